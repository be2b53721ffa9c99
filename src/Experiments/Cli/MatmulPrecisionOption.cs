using System.CommandLine;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>
/// `--matmul-precision fp32|3xtf32|tf32|auto` of train, eval, grads and experiment run. auto: 3xtf32 on CUDA (FP32-level
/// accuracy on tensor cores), fp32 on the CPU and the emulator (the reference; their TF32 twins are exact but slow).
/// </summary>
public static class MatmulPrecisionOption
{
    public static Option<string> Create() => new("--matmul-precision")
    {
        Description = "how matrix products multiply: fp32, 3xtf32 (three TF32 tensor-core products, FP32-level accuracy), tf32 (one, as PyTorch's " +
                      "allow_tf32) or auto (3xtf32 on CUDA, fp32 on the CPU and the emulator)",
        DefaultValueFactory = _ => "auto",
    };

    /// <summary>The precision for a backend that is open (its name: cpu, cuda or emulator).</summary>
    public static MatmulPrecision Resolve(string text, string backend) =>
        text == "auto" ? (backend == "cuda" ? MatmulPrecision.Tf32x3 : MatmulPrecision.Fp32) : CliParse.Enum<MatmulPrecision>(text, "--matmul-precision");
}
