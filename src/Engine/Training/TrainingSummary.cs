using System.Text.Json.Serialization;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;

namespace RawFlipFlop.Engine.Training;

/// <summary>Which weights of a run an offline evaluation measured.</summary>
public enum Iterate
{
    /// <summary>The weights after the last step.</summary>
    Final,
    /// <summary>The best-so-far weights: fewest online errors, earliest on ties.</summary>
    Best,
}

/// <summary>Where a run stands.</summary>
public enum RunStatus
{
    Running,
    Finished,
    /// <summary>The loss became NaN or infinite; the run stopped at that step.</summary>
    Diverged,
}

/// <summary>
/// One offline evaluation of an iterate on a split (reads: the scored positions of the task), with reads and errors
/// by dependency length and the first errors as glitch records (each can be generated again from its set and index).
/// </summary>
public sealed record EvaluationRecord(string Split, Iterate Iterate, long Sequences, long Reads, long Errors, long SequencesWithErrors, long Step)
{
    public double ErrorRate => Reads == 0 ? 0 : (double)Errors / Reads;
    public IReadOnlyList<DependencyBucket> ByDependency { get; init; } = [];
    public IReadOnlyList<Glitch> Glitches { get; init; } = [];

    // Value equality over the lists' contents too (records compare lists by reference).
    public bool Equals(EvaluationRecord? other) => other is not null && (Split, Iterate, Sequences, Reads, Errors, SequencesWithErrors, Step) ==
        (other.Split, other.Iterate, other.Sequences, other.Reads, other.Errors, other.SequencesWithErrors, other.Step) &&
        ByDependency.SequenceEqual(other.ByDependency) && Glitches.SequenceEqual(other.Glitches);

    public override int GetHashCode() => HashCode.Combine(Split, Iterate, Sequences, Reads, Errors, SequencesWithErrors, Step);
}

/// <summary>What a run writes to summary.json: its options, where it ran, its curves and its offline evaluations.</summary>
public sealed record TrainingSummary
{
    public required RunStatus Status { get; init; }
    public required TrainOptions Options { get; init; }
    /// <summary>SHA-256 of the canonical options (<see cref="OptionsSchema"/>).</summary>
    public required string OptionsHash { get; init; }
    public required long Params { get; init; }
    /// <summary>Updates applied.</summary>
    public required int Steps { get; init; }
    /// <summary>The step whose loss was NaN or infinite (status diverged), else null.</summary>
    public int? DivergedAt { get; init; }
    public required string Backend { get; init; }
    public required string Device { get; init; }
    /// <summary>The last step's loss (null in JSON when it is not finite).</summary>
    public required double FinalLoss { get; init; }
    public required IReadOnlyList<double> Losses { get; init; }
    /// <summary>The sharpening term per step (null without sharpening).</summary>
    public IReadOnlyList<double>? SharpenLosses { get; init; }
    public required double TrainSeconds { get; init; }
    public required double EvalSeconds { get; init; }
    public required IReadOnlyList<OnlineEvaluation> Online { get; init; }
    /// <summary>Attention entropy per layer and weight-matrix norms at each online evaluation.</summary>
    public IReadOnlyList<TrainingDiagnostics> Diagnostics { get; init; } = [];
    public int? BestStep { get; init; }
    public required IReadOnlyList<EvaluationRecord> Eval { get; init; }
    public required string EngineVersion { get; init; }

    [JsonIgnore] public ModelConfig Config => Options.Model;
}

public static class EngineInfo
{
    public static string Version { get; } =
        typeof(EngineInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";
}
