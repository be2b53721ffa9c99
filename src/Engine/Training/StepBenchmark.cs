using System.Diagnostics;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training;

/// <summary>
/// One model's training-step timing. MedianMs, MinMs: steps one at a time, each read back at once, every kernel bracketed
/// by events (KernelsPerStep: per kernel its launches and time per step). GraphMs: the steady state as training runs it,
/// steps queued as graph launches with the loss read every <see cref="StepBenchmark.LossReadInterval"/> steps; DirectMs:
/// the same with separate launches. Graph: how the graph run went (captures, launches, why not, if not).
/// </summary>
public sealed record StepTimes(string Model, long Parameters, int Steps, double MedianMs, double MinMs, IReadOnlyList<KernelTime> KernelsPerStep,
    double GraphMs, double DirectMs, string Graph);

/// <summary>
/// Times training steps (fresh FFL(0.8) batch, forward, clean loss, backward, AdamW; B = 16) of the benchmark models on
/// a kernel device: the wall time of each whole step (the step reads its loss back, so it ends synchronised), and,
/// over the same steps, every kernel's time from the device's own clock (CUDA events on a GPU) through
/// <see cref="KernelTimingDevice"/>. Used by `bench -- gpu-step`.
/// </summary>
public static class StepBenchmark
{
    /// <summary>Loss read-back interval of the queued runs (the kernel devices' default).</summary>
    public const int LossReadInterval = 16;

    /// <summary>The benchmark models: the paper's LSTM, a 2-layer 128-wide Transformer, the paper's baseline; tiny is for checking the instrument (it runs in the emulator).</summary>
    public static readonly IReadOnlyDictionary<string, (ModelConfig Config, int Length)> Models = new Dictionary<string, (ModelConfig, int)>
    {
        ["lstm"] = (ModelConfig.Lstm(), 512),
        ["transformer-2x128x2"] = (ModelConfig.Transformer(layers: 2, dim: 128, heads: 2, maxLength: 512), 512),
        ["baseline"] = (ModelConfig.Transformer(layers: 6, dim: 512, heads: 8, maxLength: 512), 512),
        ["tiny"] = (ModelConfig.Transformer(layers: 1, dim: 16, heads: 2, maxLength: 16), 16),
    };

    /// <summary>
    /// Times <paramref name="steps"/> steps after <paramref name="warmup"/> of model <paramref name="name"/> built with
    /// <paramref name="createOps"/> over <paramref name="timing"/> (which this call resets and reads).
    /// </summary>
    public static StepTimes Run(string name, KernelTimingDevice timing, Func<IKernelDevice, IOps<float>> createOps, MatmulPrecision precision,
        int warmup, int steps, int batch = 16)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(steps);
        if (!Models.TryGetValue(name, out var model))
            throw new ArgumentException($"unknown model '{name}' (known: {string.Join(", ", Models.Keys)})", nameof(name));
        var ops = createOps(timing);
        try
        {
            using var net = ModelFactory.Create(model.Config, ops, precision);
            net.Initialize(1);
            var options = new TrainOptions { Model = model.Config, Steps = int.MaxValue - 1, EvalEvery = 0, Batch = batch, Length = model.Length, MatmulPrecision = precision };
            using var run = new TrainingRun<float>(options, net);
            for (int i = 0; i < warmup; i++) run.TrainStep();
            timing.Synchronize();
            timing.Reset();
            var times = new List<double>();
            for (int i = 0; i < steps; i++)
            {
                long start = Stopwatch.GetTimestamp();
                run.TrainStep();
                times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
            var kernels = timing.Report().Select(k => k with { Launches = k.Launches / steps, Milliseconds = k.Milliseconds / steps }).ToList();
            timing.Reset();
            times.Sort();
            var (graphMs, graph) = Queued(model.Config, options, timing.Inner, createOps, precision, warmup, steps, graphs: true);
            var (directMs, _) = Queued(model.Config, options, timing.Inner, createOps, precision, warmup, steps, graphs: false);
            return new StepTimes(name, net.Layout.Count, steps, times[times.Count / 2], times[0], kernels, graphMs, directMs, graph);
        }
        finally
        {
            (ops as IDisposable)?.Dispose();
        }
    }

    /// <summary>Wall milliseconds per step of <paramref name="steps"/> queued steps after <paramref name="warmup"/> (the run ends synchronised).</summary>
    static (double Ms, string Graph) Queued(ModelConfig config, TrainOptions options, IKernelDevice device, Func<IKernelDevice, IOps<float>> createOps,
        MatmulPrecision precision, int warmup, int steps, bool graphs)
    {
        var ops = createOps(device);
        try
        {
            using var net = ModelFactory.Create(config, ops, precision);
            net.Initialize(1);
            using var run = new TrainingRun<float>(options, net, new StepExecution(LossReadInterval, graphs));
            run.Run(untilStep: Math.Max(1, warmup));
            long start = Stopwatch.GetTimestamp();
            run.Run(untilStep: run.Step + steps);
            double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds / steps;
            var g = run.Graph;
            return (ms, g.DirectReason is { } why
                ? $"direct ({why})"
                : $"{g.Captures} capture(s) of {g.GraphSize} operations, {g.Launches} graph launches, {g.DirectRuns} direct");
        }
        finally
        {
            (ops as IDisposable)?.Dispose();
        }
    }
}
