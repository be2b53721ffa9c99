using BenchmarkDotNet.Attributes;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Bench;

/// <summary>
/// One training step (fresh FFL(0.8) batch, forward, clean loss, backward, AdamW) at B=16, T=512 on the CPU
/// engine: the 133K LSTM and a 2-layer, 128-wide, 2-head Transformer. bench/compare-pytorch.sh runs the
/// same steps in PyTorch side by side.
/// </summary>
[MemoryDiagnoser]
public class TrainingStepBenchmarks
{
    /// <summary>The benchmark models of <see cref="StepBenchmark.Models"/> (lstm, transformer-2x128x2, baseline; the baseline
    /// only for step-timing: 4 to 12 s a step on 2 cores is too slow for BenchmarkDotNet's iterations).</summary>
    public static readonly Dictionary<string, ModelConfig> Models = StepBenchmark.Models
        .Where(m => m.Key != "tiny").ToDictionary(m => m.Key, m => m.Value.Config);

    CpuDevice? _device;
    ModelBase<float>? _model;
    TrainingRun<float>? _run;

    [Params("lstm", "transformer-2x128x2")]
    public string Model { get; set; } = "lstm";

    [GlobalSetup]
    public void Setup()
    {
        (_device, _model, _run) = Create(Model);
        _run.TrainStep();
    }

    public static (CpuDevice, ModelBase<float>, TrainingRun<float>) Create(string name, IOps<float>? ops = null)
    {
        var device = new CpuDevice();
        var model = ModelFactory.Create(Models[name], ops ?? new CpuOps<float>(device));
        model.Initialize(1);
        var run = new TrainingRun<float>(new TrainOptions { Model = Models[name], Steps = int.MaxValue - 1, EvalEvery = 0 }, model);
        return (device, model, run);
    }

    [Benchmark(Description = "train step B=16 T=512")]
    public double Step() => _run!.TrainStep();

    [GlobalCleanup]
    public void Cleanup()
    {
        _run?.Dispose();
        _model?.Dispose();
        _device?.Dispose();
    }
}

/// <summary>
/// `step-timing [--steps N] [--models a,b,...] [--baseline-steps N] [--json] [--profile]`: median ms per training step,
/// the same protocol as bench/pytorch/step_bench.py (3 warm-up steps, then N timed ones; the baseline: 1 warm-up and
/// --baseline-steps timed, default 3). Models: lstm, transformer-2x128x2, baseline (default: all three).
/// `--profile` adds the time per op (TimedOps decorator).
/// </summary>
public static class StepTiming
{
    /// <summary>The JSON key of each model (as step_bench.py prints them).</summary>
    static readonly Dictionary<string, string> JsonKeys = new()
    {
        ["lstm"] = "lstm_ms", ["transformer-2x128x2"] = "transformer_ms", ["baseline"] = "baseline_ms",
    };

    public static int Run(string[] args)
    {
        int steps = BenchOptions.Count(args, "--steps", 10);
        int baselineSteps = BenchOptions.Count(args, "--baseline-steps", 3);
        string[] models = BenchOptions.Models(args, TrainingStepBenchmarks.Models.Keys, string.Join(',', TrainingStepBenchmarks.Models.Keys));
        bool json = args.Contains("--json");
        bool profile = args.Contains("--profile");
        var results = new Dictionary<string, (double Median, double Min)>();
        foreach (var name in models)
        {
            bool big = name == "baseline";
            int timedSteps = big ? baselineSteps : steps;
            TimedOps<float>? timed = null;
            var (device, model, run) = TrainingStepBenchmarks.Create(name, profile ? timed = new TimedOps<float>(new CpuOps<float>(new CpuDevice())) : null);
            for (int i = 0; i < (big ? 1 : 3); i++) run.TrainStep();
            timed?.Reset();
            var times = new List<double>();
            for (int i = 0; i < timedSteps; i++)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                run.TrainStep();
                times.Add(clock.Elapsed.TotalMilliseconds);
            }
            times.Sort();
            results[name] = (times[times.Count / 2], times[0]);
            if (!json) Console.WriteLine($"{name,-22} median {times[times.Count / 2],8:0.0} ms  min {times[0],8:0.0} ms  ({timedSteps} steps, {model.Layout.Count:N0} parameters)");
            if (timed != null)
                foreach (var (op, calls, time) in timed.Report())
                    Console.WriteLine($"    {op,-32} {calls / timedSteps,4} calls/step {time.TotalMilliseconds / timedSteps,9:0.00} ms/step");
            run.Dispose(); model.Dispose(); device.Dispose();
        }
        if (json)
            Console.WriteLine("{" + string.Join(", ", results.Select(r => $"\"{JsonKeys[r.Key]}\": {r.Value.Median.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)}"))
                + $", \"threads\": {Environment.ProcessorCount}}}");
        return 0;
    }
}
