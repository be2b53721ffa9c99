using BenchmarkDotNet.Running;
using RawFlipFlop.Bench;

// Run all suites: dotnet run -c Release --project bench -- --filter '*'
// Quick step timing (the protocol of bench/pytorch/step_bench.py): dotnet run -c Release --project bench -- step-timing
// GPU step timing with per-kernel CUDA-event times: dotnet run -c Release --project bench -- gpu-step
try
{
    if (args.Length > 0 && args[0] == "step-timing") return StepTiming.Run(args[1..]);
    if (args.Length > 0 && args[0] == "gpu-step") return GpuStepTiming.Run(args[1..]);
}
catch (BenchOptionException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
