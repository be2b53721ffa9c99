using System.Numerics;
using RawFlipFlop.Engine.Models;

namespace RawFlipFlop.Engine.Training.Tasks;

/// <summary>
/// What a run learns and how it is scored: the training batches with their targets and loss mask, the fixed online
/// set, the offline splits and any files the task adds to a finished run. Implementations: <see cref="FlipFlopTask"/>
/// (language modelling on flip-flop strings) and <see cref="AutomatonTask"/> (the flip-flop automaton).
/// </summary>
public interface ITrainingTask
{
    /// <summary>
    /// Fills training batch <paramref name="step"/> (1-based): tokens (B,T) and targets (B,T), -1 where a position is
    /// not scored. Returns the number of scored positions.
    /// </summary>
    int SampleBatch(int step, byte[] tokens, int[] targets);

    /// <summary>The fixed set evaluated during training (null when online evaluation is off).</summary>
    ITaskSplit? Online { get; }

    /// <summary>The splits every iterate is evaluated on when training ends.</summary>
    IReadOnlyList<ITaskSplit> Offline { get; }

    /// <summary>Files the task writes beside the checkpoints of a finished run (name and content), e.g. attention maps.</summary>
    IReadOnlyList<TaskArtifact> Artifacts(IModel<float> model);
}

/// <summary>A fixed evaluation set of a task: its name, its size and the error count of a model on it.</summary>
public interface ITaskSplit
{
    string Name { get; }
    int Count { get; }

    /// <summary>
    /// Scores the model's current parameters; progress(done, total) in sequences. With <paramref name="attentionEntropy"/>
    /// a Transformer's mean attention-row entropy per layer over the set is measured on the same forward passes.
    /// </summary>
    SplitResult Evaluate<T>(IModel<T> model, Action<int, int>? progress = null, bool attentionEntropy = false) where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>
/// One evaluation: sequences, scored positions (reads for flip-flop strings, every position for the automaton),
/// errors among them and sequences with at least one error; positions and errors by dependency length, and the first
/// errors as glitch records.
/// </summary>
public sealed record SplitResult(string Split, long Sequences, long Positions, long Errors, long SequencesWithErrors,
    IReadOnlyList<RawFlipFlop.Engine.Data.DependencyBucket> Buckets, IReadOnlyList<RawFlipFlop.Engine.Data.Glitch> Glitches)
{
    /// <summary>Mean attention-row entropy per layer (nats), when asked for and the model is a Transformer; else empty.</summary>
    public IReadOnlyList<double> AttentionEntropy { get; init; } = [];
}

/// <summary>Sums the attention entropies of a Transformer's forward passes and averages them per row.</summary>
public sealed class AttentionEntropyMeter
{
    double[]? _sums;
    long _rows;

    /// <summary>Adds the last forward of <paramref name="model"/> (a no-op for models without attention).</summary>
    public void Add<T>(IModel<T> model) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (model is not TransformerModel<T> transformer) return;
        var sums = transformer.AttentionEntropySums();
        _sums ??= new double[sums.Length];
        for (int l = 0; l < sums.Length; l++) _sums[l] += sums[l];
        var (b, t) = transformer.LastShape;
        _rows += (long)b * transformer.Config.Heads * t;
    }

    public IReadOnlyList<double> Means => _sums == null ? [] : _sums.Select(s => s / _rows).ToArray();
}

/// <summary>A file a task adds to a finished run: its name in the run directory and how to write it at a given path.</summary>
public sealed record TaskArtifact(string FileName, Action<string> Write);

public static class TrainingTasks
{
    /// <summary>The task of the options.</summary>
    public static ITrainingTask For(TrainOptions options) => options.Task switch
    {
        TaskKind.FlipFlop => new FlipFlopTask(options),
        TaskKind.Automaton => new AutomatonTask(options),
        _ => throw new ArgumentException($"unknown task {options.Task}"),
    };

    /// <summary>Checks the options a task adds rules for (vocabulary, lengths, offline splits).</summary>
    public static void Validate(TrainOptions options)
    {
        switch (options.Task)
        {
            case TaskKind.FlipFlop: FlipFlopTask.Validate(options); break;
            case TaskKind.Automaton: AutomatonTask.Validate(options); break;
            default: throw new ArgumentException($"unknown task {options.Task}");
        }
    }
}
