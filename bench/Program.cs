using BenchmarkDotNet.Running;
using RawFlipFlop.Bench;

// Run all suites: dotnet run -c Release --project bench -- --filter '*'
// Quick step timing (the protocol of bench/pytorch/step_bench.py): dotnet run -c Release --project bench -- step-timing
if (args.Length > 0 && args[0] == "step-timing") return StepTiming.Run(args[1..]);
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
