using System.Text.Json.Serialization;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training.Tasks;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training;

/// <summary>What the model learns (the implementations are in Training/Tasks).</summary>
public enum TaskKind
{
    /// <summary>Flip-flop language modelling: next-token prediction on flip-flop strings.</summary>
    [JsonStringEnumMemberName("flipflop")] FlipFlop,
    /// <summary>The flip-flop automaton (paper Definition 1): output the state after every input, non-autoregressively.</summary>
    Automaton,
}

/// <summary>An offline evaluation split of the flip-flop task and how many of its sequences are used.</summary>
public sealed record OfflineSplit(string Split, int Count);

/// <summary>
/// Everything that defines a training run (defaults: the paper's Appendix B.2). <see cref="OptionsSchema"/> is the
/// one place it is written to and read from JSON; two options are equal when their canonical JSON is.
/// </summary>
public sealed record TrainOptions
{
    public required ModelConfig Model { get; init; }
    public TaskKind Task { get; init; } = TaskKind.FlipFlop;
    /// <summary>Automaton task: P(input is sigma0 or sigma1) (Figure 11: 0.5).</summary>
    public double AutomatonPWrite { get; init; } = 0.5;
    public int Steps { get; init; } = 10_000;
    public int Batch { get; init; } = 16;
    public int Length { get; init; } = 512;
    public double LearningRate { get; init; } = 3e-4;
    public double WeightDecay { get; init; } = 0.1;
    public double AdamBeta1 { get; init; } = 0.9;
    public double AdamBeta2 { get; init; } = 0.999;
    /// <summary>AdamW's epsilon (torch.optim.AdamW's default).</summary>
    public double AdamEpsilon { get; init; } = 1e-8;
    public int Warmup { get; init; } = 50;
    /// <summary>Step at which the linear decay reaches 0 (null: steps + 1, so 10001 for 10^4 steps).</summary>
    public int? DecaySteps { get; init; }
    /// <summary>Model seed: initialisation and dropout masks.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Data seed: the training batches (batch k is sequences (k-1)*B .. k*B-1 of the stream).</summary>
    public ulong DataSeed { get; init; } = 1;
    public FlipFlopMixture Data { get; init; } = FlipFlopMixture.Of(FlipFlopDistribution.Train);
    /// <summary>
    /// Train on this file's sequences, walked in a seeded order (<see cref="DataFileOrder"/>, the data seed), instead of
    /// sampling <see cref="Data"/> (null: sample). Flip-flop language modelling only. Left out of the JSON when null,
    /// so the options (and hashes) of sampled runs are as before.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public TrainingDataFile? DataFile { get; init; }
    public LossMode Mode { get; init; } = LossMode.Clean;
    public float DropoutEmbedding { get; init; }
    public float DropoutAttention { get; init; }
    public float DropoutFeedForward { get; init; }
    public double Sharpen { get; init; }
    /// <summary>Layers the sharpening averages over (null: all).</summary>
    public IReadOnlyList<int>? SharpenLayers { get; init; }
    /// <summary>The first step the sharpening applies to (0: from the start; the paper's Figure 12 switches it on partway).</summary>
    public int SharpenFrom { get; init; }
    /// <summary>Online evaluation every N steps on the task's fixed online set (0 = never).</summary>
    public int EvalEvery { get; init; } = 100;
    /// <summary>Sequences of the online set used (paper: 10^3).</summary>
    public int EvalCount { get; init; } = 1_000;
    /// <summary>Final offline evaluation of the flip-flop task: splits and sequence counts, for the final and the best-so-far iterate.</summary>
    public IReadOnlyList<OfflineSplit> Offline { get; init; } =
        [new("sparse", 100_000), new("dense", 100_000), new("indist", 10_000)];
    /// <summary>Evaluation batch (null: a default for the model).</summary>
    public int? EvalBatch { get; init; }
    /// <summary>
    /// How every matrix product of the run multiplies (fp32, 3xtf32, tf32). Part of the options, so summary.json, the
    /// results store, the resume state and the checkpoints' options hash record it, and a run is resumed only in the
    /// precision it was started in. On the CPU the TF32 modes run the tensor-core kernels' exact twins (slow). Left
    /// out of the JSON at fp32 (absent means fp32), so fp32 runs keep the options and hashes they had before it existed.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public MatmulPrecision MatmulPrecision { get; init; } = MatmulPrecision.Fp32;

    [JsonIgnore] public int ScheduleTotal => DecaySteps ?? Steps + 1;

    /// <summary>Whether online evaluation happens after <paramref name="step"/> (every EvalEvery steps and after the last).</summary>
    public bool EvaluatesOnlineAt(int step) => EvalEvery > 0 && EvalCount > 0 && (step % EvalEvery == 0 || step == Steps);

    /// <summary>Checks every field before any work; throws <see cref="InvalidOptionException"/> naming the first bad one.</summary>
    public TrainOptions Validate()
    {
        Model.Validate();
        static string Of(double x) => x.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        InvalidOptionException.Require(Steps >= 1, "steps", $"must be at least 1, got {Steps}");
        InvalidOptionException.Require(Batch >= 1, "batch", $"must be at least 1, got {Batch}");
        InvalidOptionException.Require(Length <= Model.MaxSequenceLength, "length", $"{Length} exceeds the model's max_length {Model.MaxLength}");
        InvalidOptionException.Require(double.IsFinite(LearningRate) && LearningRate > 0, "learning_rate", $"must be a positive number, got {Of(LearningRate)}");
        InvalidOptionException.Require(double.IsFinite(WeightDecay) && WeightDecay >= 0, "weight_decay", $"must be a non-negative number, got {Of(WeightDecay)}");
        InvalidOptionException.Require(AdamBeta1 is >= 0 and < 1, "adam_beta1", $"must be in [0, 1), got {Of(AdamBeta1)}");
        InvalidOptionException.Require(AdamBeta2 is >= 0 and < 1, "adam_beta2", $"must be in [0, 1), got {Of(AdamBeta2)}");
        InvalidOptionException.Require(double.IsFinite(AdamEpsilon) && AdamEpsilon > 0, "adam_epsilon", $"must be a positive number, got {Of(AdamEpsilon)}");
        InvalidOptionException.Require(Warmup >= 0, "warmup", $"must be non-negative, got {Warmup}");
        InvalidOptionException.Require(DecaySteps is null or >= 1, "decay_steps", $"must be at least 1, got {DecaySteps}");
        InvalidOptionException.Require(Data.Components.Count > 0, "data", "the mixture names no distribution");
        if (DataFile != null)
        {
            InvalidOptionException.Require(Task == TaskKind.FlipFlop, "data_file", "training from a file is for the flip-flop language-modelling task");
            InvalidOptionException.Require(DataFile.Length == Length, "data_file",
                $"{DataFile.Files[0].Path} holds sequences of length {DataFile.Length}, the run's length is {Length}");
            InvalidOptionException.Require(DataFile.Sequences >= 1 && DataFile.Files.Count >= 1, "data_file", "the data holds no sequences");
        }
        InvalidOptionException.Require(AutomatonPWrite is >= 0 and <= 1, "automaton_p_write", $"must lie in [0, 1], got {Of(AutomatonPWrite)}");
        foreach (var (name, p) in new[] { ("dropout_embedding", DropoutEmbedding), ("dropout_attention", DropoutAttention), ("dropout_feed_forward", DropoutFeedForward) })
            InvalidOptionException.Require(p is >= 0 and < 1, name, $"must be in [0, 1), got {Of(p)}");
        InvalidOptionException.Require(double.IsFinite(Sharpen), "sharpen", $"must be a finite number, got {Of(Sharpen)}");
        InvalidOptionException.Require(SharpenFrom >= 0, "sharpen_from", $"must be a step >= 0, got {SharpenFrom}");
        InvalidOptionException.Require(!Model.IsLstm || (DropoutEmbedding == 0 && DropoutAttention == 0 && DropoutFeedForward == 0 && Sharpen == 0),
            "model", "dropout and sharpening options apply to the transformer only");
        if (SharpenLayers != null)
        {
            foreach (var l in SharpenLayers)
                InvalidOptionException.Require(l >= 0 && l < Model.Layers, "sharpen_layers", $"layer {l} outside 0..{Model.Layers - 1}");
            InvalidOptionException.Require(SharpenLayers.Distinct().Count() == SharpenLayers.Count, "sharpen_layers", "names a layer twice");
        }
        InvalidOptionException.Require(EvalEvery >= 0, "eval_every", $"must be non-negative, got {EvalEvery}");
        InvalidOptionException.Require(EvalCount >= 0, "eval_count", $"must be non-negative, got {EvalCount}");
        InvalidOptionException.Require(EvalBatch is null or >= 1, "eval_batch", $"must be at least 1, got {EvalBatch}");
        InvalidOptionException.Require(Enum.IsDefined(MatmulPrecision), "matmul_precision", $"must be fp32, 3xtf32 or tf32, got {MatmulPrecision}");
        foreach (var split in Offline)
        {
            InvalidOptionException.Require(split.Count >= 0, "offline", $"{split.Split}: the count must be non-negative, got {split.Count}");
            InvalidOptionException.Require(FitsOneArray(split.Count), "offline", $"{split.Split}: {split.Count} sequences of length {Length} exceed one array ({Array.MaxLength} tokens)");
        }
        InvalidOptionException.Require(FitsOneArray(EvalCount), "eval_count", $"{EvalCount} sequences of length {Length} exceed one array ({Array.MaxLength} tokens)");
        TrainingTasks.Validate(this);
        return this;
    }

    /// <summary>An evaluation set is generated into one token array: count x length must fit.</summary>
    bool FitsOneArray(int count) => (long)count * Length <= Array.MaxLength;

    public PassOptions PassAt(long step) => new()
    {
        DropoutEmbedding = DropoutEmbedding, DropoutAttention = DropoutAttention, DropoutFeedForward = DropoutFeedForward,
        DropoutSeed = Seed, Step = step, Sharpen = step >= SharpenFrom ? Sharpen : 0, SharpenLayers = SharpenLayers,
    };

    // Value equality over the canonical JSON: the record's lists would otherwise compare by reference.
    public bool Equals(TrainOptions? other) =>
        other is not null && OptionsSchema.Canonical(this) == OptionsSchema.Canonical(other);

    public override int GetHashCode() => OptionsSchema.Canonical(this).GetHashCode(StringComparison.Ordinal);
}
