using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;

namespace RawFlipFlop.Engine.Training;

/// <summary>One offline evaluation of an iterate ("final" or "best", the best-so-far by online errors).</summary>
public sealed record EvaluationRecord(string Split, string Iterate, long Sequences, long Reads, long Errors, long SequencesWithErrors, long Step)
{
    public double ErrorRate => Reads == 0 ? 0 : (double)Errors / Reads;

    public static EvaluationRecord From(ReadErrorCounter counter, string iterate, long step) =>
        new(counter.Split, iterate, counter.Sequences, counter.Reads, counter.Errors, counter.SequencesWithErrors, step);
}

/// <summary>What `train` writes to DIR/summary.json.</summary>
public sealed record TrainingSummary
{
    public required ModelConfig Config { get; init; }
    public required long Params { get; init; }
    public required int Steps { get; init; }
    public required string Backend { get; init; }
    public required string Device { get; init; }
    public required ulong Seed { get; init; }
    public required ulong DataSeed { get; init; }
    public required string Mode { get; init; }
    public required string Data { get; init; }
    public required int Batch { get; init; }
    public required int Length { get; init; }
    public required double Lr { get; init; }
    public required double WeightDecay { get; init; }
    public required int Warmup { get; init; }
    public required int DecaySteps { get; init; }
    public float DropoutEmb { get; init; }
    public float DropoutAttn { get; init; }
    public float DropoutFf { get; init; }
    public double Sharpen { get; init; }
    public IReadOnlyList<int>? SharpenLayers { get; init; }
    public required double FinalLoss { get; init; }
    public required IReadOnlyList<double> Losses { get; init; }
    public IReadOnlyList<double>? SharpenLosses { get; init; }
    public required double TrainSeconds { get; init; }
    public double EvalSeconds { get; init; }
    public required IReadOnlyList<OnlineEvaluation> Online { get; init; }
    public int? BestStep { get; init; }
    public required IReadOnlyList<EvaluationRecord> Eval { get; init; }
    public required string EngineVersion { get; init; }

    public static TrainingSummary Create<T>(TrainingRun<T> run, string backend, IReadOnlyList<EvaluationRecord> eval, double evalSeconds)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var o = run.Options;
        return new TrainingSummary
        {
            Config = o.Model, Params = run.Model.Layout.Count, Steps = run.Step, Backend = backend, Device = run.Model.Ops.Device.Description,
            Seed = o.Seed, DataSeed = o.DataSeed, Mode = o.Mode == LossMode.Clean ? "clean" : "generative", Data = o.Data.ToString(),
            Batch = o.Batch, Length = o.Length, Lr = o.LearningRate, WeightDecay = o.WeightDecay, Warmup = o.Warmup, DecaySteps = o.ScheduleTotal,
            DropoutEmb = o.DropoutEmbedding, DropoutAttn = o.DropoutAttention, DropoutFf = o.DropoutFeedForward,
            Sharpen = o.Sharpen, SharpenLayers = o.SharpenLayers,
            FinalLoss = run.Losses.Count == 0 ? double.NaN : run.Losses[^1], Losses = run.Losses,
            SharpenLosses = o.Sharpen != 0 ? run.Regularizer : null,
            TrainSeconds = run.TrainTime.TotalSeconds, EvalSeconds = evalSeconds, Online = run.Online, BestStep = run.Best?.Step,
            Eval = eval, EngineVersion = EngineInfo.Version,
        };
    }
}

public static class EngineInfo
{
    public static string Version { get; } =
        typeof(EngineInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
