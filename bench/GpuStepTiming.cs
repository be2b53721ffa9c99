using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Bench;

/// <summary>
/// `gpu-step [--steps N] [--baseline-steps N] [--models a,b] [--precision fp32|3xtf32|tf32] [--backend cuda|emulator] [--kernels N]`:
/// ms per training step (B=16, T=512) of the LSTM, the 2-layer 128-wide Transformer and the baseline on the GPU, and the
/// time per step of the N most expensive kernels from CUDA events. Without a GPU it says so and exits 0.
/// `--backend emulator --models tiny` checks the instrument where there is no GPU (emulator times are not GPU times).
/// </summary>
public static class GpuStepTiming
{
    public static int Run(string[] args)
    {
        int steps = BenchOptions.Count(args, "--steps", 20), baselineSteps = BenchOptions.Count(args, "--baseline-steps", 10);
        int top = BenchOptions.Count(args, "--kernels", 12);
        string backend = BenchOptions.Value(args, "--backend") ?? "cuda";
        string[] models = BenchOptions.Models(args, StepBenchmark.Models.Keys, "lstm,transformer-2x128x2,baseline");
        string precisionName = BenchOptions.Value(args, "--precision") ?? "3xtf32";
        var precision = precisionName switch
        {
            "fp32" => MatmulPrecision.Fp32,
            "3xtf32" => MatmulPrecision.Tf32x3,
            "tf32" => MatmulPrecision.Tf32,
            _ => throw new BenchOptionException($"--precision: unknown \"{precisionName}\" (fp32, 3xtf32, tf32)"),
        };
        IKernelDevice device;
        if (backend == "cuda")
        {
            // The NVRTCs that load here, with or without a GPU (bench/gpu-check.sh reports them: were the carried ones found?)
            var loaded = Nvrtc.Found.Loaded;
            Console.WriteLine($"gpu-step: NVRTC found: {(loaded.Count > 0 ? string.Join(", ", loaded) : "none")}");
            if (!CudaDevice.TryCreate(out var cuda, out string reason))
            {
                Console.WriteLine($"gpu-step: no GPU here ({reason}); nothing measured");
                return 0;
            }
            Console.WriteLine($"gpu-step: NVRTC used: {cuda!.NvrtcLibrary}; kernels {cuda.Architecture}");
            device = cuda;
        }
        else if (backend == "emulator")
        {
            if (!EmulatedDevice.TryCreate(out var emulated, out string reason))
            {
                Console.Error.WriteLine($"error: --backend emulator: {reason}");
                return 1;
            }
            device = emulated!;
        }
        else throw new BenchOptionException($"--backend: unknown \"{backend}\" (cuda, emulator)");
        using (device)
        {
            Console.WriteLine($"{device.Description}; matmul precision {precisionName}");
            using var timing = new KernelTimingDevice(device);
            foreach (var name in models)
            {
                int n = name == "baseline" ? baselineSteps : steps;
                var result = StepBenchmark.Run(name, timing, d => new GpuOps(d), precision, warmup: 3, steps: n);
                double kernelMs = result.KernelsPerStep.Sum(k => k.Milliseconds);
                Console.WriteLine($"{name,-22} graph {result.GraphMs,9:0.00} ms  launches {result.DirectMs,9:0.00} ms  per queued step " +
                    $"(losses read every {StepBenchmark.LossReadInterval}; {n} steps, {result.Parameters:N0} parameters; {result.Graph})");
                Console.WriteLine($"{"",-22} one at a time with per-kernel events: median {result.MedianMs,9:0.00} ms  min {result.MinMs,9:0.00} ms; " +
                    $"kernels {kernelMs:0.00} ms in {result.KernelsPerStep.Sum(k => k.Launches)} launches per step");
                foreach (var k in result.KernelsPerStep.Take(top))
                    Console.WriteLine($"    {k.Kernel,-40} {k.Launches,5} launches {k.Milliseconds,9:0.000} ms/step {100 * k.Milliseconds / Math.Max(kernelMs, 1e-12),5:0.0}%");
            }
        }
        return 0;
    }
}
