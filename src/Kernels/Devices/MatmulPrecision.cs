using System.Text.Json.Serialization;

namespace RawFlipFlop.Kernels.Devices;

/// <summary>
/// How a matrix product multiplies (the option <c>--matmul-precision</c>; JSON and command-line names fp32, 3xtf32,
/// tf32). Sums are FP32 in every mode. On the CPU each mode has an exact twin (<see cref="Cpu.CpuOps{T}"/>); the GPU
/// runs <see cref="Fp32"/> on its SIMT kernels and the TF32 modes on tensor cores (mma.m16n8k8 .tf32).
/// </summary>
public enum MatmulPrecision
{
    /// <summary>FP32 products: the reference (the GPU's SIMT kernels).</summary>
    Fp32,

    /// <summary>
    /// 3xTF32: each operand x is split into hi = tf32(x) and lo = tf32(x - hi), and a·b is taken as
    /// lo_a·hi_b + hi_a·lo_b + hi_a·hi_b (lo·lo is dropped): three tensor-core products, FP32-level accuracy.
    /// </summary>
    [JsonStringEnumMemberName("3xtf32")]
    Tf32x3,

    /// <summary>TF32: both operands rounded to TF32 (10 mantissa bits), one tensor-core product (PyTorch's allow_tf32).</summary>
    Tf32,
}
