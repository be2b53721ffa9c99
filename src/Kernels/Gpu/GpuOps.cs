using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// The ops of <see cref="IOps{T}"/> as kernel launches over an <see cref="IKernelDevice"/> (the GPU or the
/// emulator), with exactly the interface's semantics; the CPU twins in <see cref="Cpu.CpuOps{T}"/> are their
/// reference. Block sizes come from kernels.cu's kernel table and tile sizes from its #defines, so the launch
/// geometry has one source. Every op of the interface; this file holds AdamW, layer norm and matmul, GpuOps.Ops.cs the rest.
/// </summary>
public sealed partial class GpuOps : IOps<float>, IDisposable
{
    readonly KernelSource _source;
    readonly int _gemmRows, _gemmCols, _lnBackwardRows;
    Buf<float> _scratch;

    public GpuOps(IKernelDevice device, KernelSource? source = null)
    {
        Device = device;
        _source = source ?? KernelSource.Default;
        _gemmRows = _source.Define("GEMM_BM");
        _gemmCols = _source.Define("GEMM_BN");
        _lnBackwardRows = _source.Define("LN_BWD_ROWS");
    }

    public IKernelDevice Device { get; }

    int Threads(string kernel) => _source.BlockThreads(kernel);

    /// <summary>A scratch buffer of at least <paramref name="count"/> floats (reused; grows).</summary>
    Buf<float> Scratch(long count)
    {
        if (_scratch.Length < count)
        {
            if (!_scratch.IsEmpty) Device.Free(_scratch);
            _scratch = Device.Allocate<float>(Math.Max(count, 2 * _scratch.Length));
        }
        return _scratch.Slice(0, count);
    }

    // ---- optimizer ----

    /// <summary>AdamW (decoupled weight decay, PyTorch's formula) over n parameters.</summary>
    public void AdamWUpdate(Buf<float> parameters, Buf<float> gradients, Buf<float> m, Buf<float> v, AdamWStep step, long n)
    {
        CheckSize(parameters, n, "parameters"); CheckSize(gradients, n, "gradients"); CheckSize(m, n, "m"); CheckSize(v, n, "v");
        if (n == 0) return;
        // The scalars as the CPU twin computes them (float arithmetic on the rounded hyper-parameters).
        float lr = (float)step.LearningRate;
        float decay = 1f - lr * (float)step.WeightDecay;
        float stepSize = lr / (float)(1 - Math.Pow(step.Beta1, step.Step));
        float bc2Sqrt = (float)Math.Sqrt(1 - Math.Pow(step.Beta2, step.Step));
        int threads = Threads("adamw_update");
        uint blocks = (uint)Math.Min(Dim3.Blocks(n, threads), 8192);
        Device.Launch("adamw_update", blocks, threads, 0, parameters, gradients, m, v, n, decay, (float)step.Beta1,
            (float)step.Beta2, (float)step.Epsilon, stepSize, bc2Sqrt);
    }

    // ---- layer norm ----

    /// <summary>output (N,C), mean (N), rstd (N) from input (N,C), weight (C), bias (C); eps 1e-5.</summary>
    public void LayerNormForward(Buf<float> output, Buf<float> mean, Buf<float> rstd, Buf<float> input, Buf<float> weight, Buf<float> bias, int n, int c)
    {
        CheckSize(output, (long)n * c, "output"); CheckSize(input, (long)n * c, "input"); CheckSize(mean, n, "mean"); CheckSize(rstd, n, "rstd");
        CheckSize(weight, c, "weight"); CheckSize(bias, c, "bias");
        if (n == 0) return;
        int threads = Threads("layernorm_forward");
        Device.Launch("layernorm_forward", Dim3.Blocks(n, threads / 32), threads, 0, output, mean, rstd, input, weight, bias, n, c);
    }

    /// <summary>dinput (N,C) +=, dweight (C) +=, dbias (C) += from doutput (N,C). Deterministic: fixed-order partial sums.</summary>
    public void LayerNormBackward(Buf<float> dinput, Buf<float> dweight, Buf<float> dbias, Buf<float> doutput, Buf<float> input,
        Buf<float> weight, Buf<float> mean, Buf<float> rstd, int n, int c)
    {
        CheckSize(dinput, (long)n * c, "dinput"); CheckSize(doutput, (long)n * c, "doutput"); CheckSize(input, (long)n * c, "input");
        CheckSize(dweight, c, "dweight"); CheckSize(dbias, c, "dbias"); CheckSize(weight, c, "weight"); CheckSize(mean, n, "mean"); CheckSize(rstd, n, "rstd");
        if (n == 0 || c == 0) return;
        uint blocks = Dim3.Blocks(n, _lnBackwardRows);
        var partials = Scratch(2L * blocks * c);
        Device.Launch("layernorm_backward", blocks, Threads("layernorm_backward"), 0, dinput, partials, doutput, input, weight, mean, rstd, n, c);
        int threads = Threads("layernorm_backward_reduce");
        Device.Launch("layernorm_backward_reduce", Dim3.Blocks(c, threads), threads, 0, dweight, dbias, partials, (int)blocks, c);
    }

    // ---- linear ----

    /// <summary>output (N,OC) = input (N,C) weight (OC,C)^T + bias (OC) (bias may be empty).</summary>
    public void MatmulForward(Buf<float> output, Buf<float> input, Buf<float> weight, Buf<float> bias, int n, int c, int oc)
    {
        CheckSize(output, (long)n * oc, "output"); CheckSize(input, (long)n * c, "input"); CheckSize(weight, (long)oc * c, "weight");
        if (!bias.IsEmpty) CheckSize(bias, oc, "bias");
        if (n == 0 || oc == 0) return;
        Device.Launch("matmul_forward", new Dim3(Dim3.Blocks(oc, _gemmCols), Dim3.Blocks(n, _gemmRows)), Threads("matmul_forward"), 0,
            output, input, weight, bias, n, c, oc);
    }

    /// <summary>
    /// dinput (N,C) += doutput weight; dweight (OC,C) += doutput^T input; dbias (OC) += column sums of doutput (N,OC).
    /// Any of dinput and dbias may be empty (not computed).
    /// </summary>
    public void MatmulBackward(Buf<float> dinput, Buf<float> dweight, Buf<float> dbias, Buf<float> doutput, Buf<float> input, Buf<float> weight,
        int n, int c, int oc)
    {
        CheckSize(doutput, (long)n * oc, "doutput"); CheckSize(input, (long)n * c, "input"); CheckSize(weight, (long)oc * c, "weight");
        CheckSize(dweight, (long)oc * c, "dweight");
        if (!dinput.IsEmpty) CheckSize(dinput, (long)n * c, "dinput");
        if (!dbias.IsEmpty) CheckSize(dbias, oc, "dbias");
        if (n == 0 || c == 0 || oc == 0) return;
        if (!dinput.IsEmpty)
            Device.Launch("matmul_backward_input", new Dim3(Dim3.Blocks(c, _gemmCols), Dim3.Blocks(n, _gemmRows)), Threads("matmul_backward_input"), 0,
                dinput, doutput, weight, n, c, oc);
        Device.Launch("matmul_backward_weight", new Dim3(Dim3.Blocks(c, _gemmCols), Dim3.Blocks(oc, _gemmRows)), Threads("matmul_backward_weight"), 0,
            dweight, doutput, input, n, c, oc);
        if (!dbias.IsEmpty)
            Device.Launch("matmul_backward_bias", Dim3.Blocks(oc, 32), Threads("matmul_backward_bias"), 0, dbias, doutput, n, oc);
    }

    static void CheckSize(Buf<float> buffer, long needed, string name)
    {
        if (buffer.Length < needed) throw new ArgumentException($"{name} has {buffer.Length} elements, the op needs {needed}");
    }

    public void Dispose()
    {
        if (!_scratch.IsEmpty) Device.Free(_scratch);
        _scratch = default;
        FreeOpBuffers();
    }
}
