using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;

namespace RawFlipFlop.Engine.Training;

/// <summary>What the model learns.</summary>
public enum TrainingTask
{
    /// <summary>Flip-flop language modeling (next-token prediction on flip-flop strings).</summary>
    FlipFlop,
    /// <summary>
    /// The flip-flop automaton (paper Definition 1, Appendix B.5): inputs bottom/sigma0/sigma1 (ids 0/1/2, so
    /// vocab_size 3), target at every position the state after that input (class 0 or 1 of the head);
    /// non-autoregressive. Sequence k of a batch is automaton sequence (step-1)*B + k of the data seed.
    /// </summary>
    Automaton,
}

/// <summary>Everything that defines a training run (defaults: the paper's Appendix B.2).</summary>
public sealed record TrainOptions
{
    public required ModelConfig Model { get; init; }
    public TrainingTask Task { get; init; } = TrainingTask.FlipFlop;
    /// <summary>Automaton task: P(input is sigma0 or sigma1) (Figure 11: 0.5).</summary>
    public double AutomatonPWrite { get; init; } = 0.5;
    public int Steps { get; init; } = 10_000;
    public int Batch { get; init; } = 16;
    public int Length { get; init; } = 512;
    public double LearningRate { get; init; } = 3e-4;
    public double WeightDecay { get; init; } = 0.1;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public int Warmup { get; init; } = 50;
    /// <summary>Step at which the linear decay reaches 0 (default steps + 1: 10001 for 10^4 steps).</summary>
    public int? DecaySteps { get; init; }
    /// <summary>Model seed: initialisation and dropout masks.</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Data seed: the training batches (batch k is sequences k*B .. k*B+B-1 of the stream).</summary>
    public ulong DataSeed { get; init; } = 1;
    public FlipFlopMixture Data { get; init; } = FlipFlopMixture.Of(FlipFlopDistribution.Train);
    public LossMode Mode { get; init; } = LossMode.Clean;
    public float DropoutEmbedding { get; init; }
    public float DropoutAttention { get; init; }
    public float DropoutFeedForward { get; init; }
    public double Sharpen { get; init; }
    public IReadOnlyList<int>? SharpenLayers { get; init; }
    /// <summary>Online evaluation every N steps on the fixed online set (0 = never).</summary>
    public int EvalEvery { get; init; } = 100;
    /// <summary>Sequences of the online set used (paper: 10^3).</summary>
    public int EvalCount { get; init; } = 1_000;
    /// <summary>Final offline evaluation: split names and sequence counts, for the final and the best-so-far iterate.</summary>
    public IReadOnlyList<(string Split, int Count)> Offline { get; init; } =
        [("sparse", 100_000), ("dense", 100_000), ("indist", 10_000)];
    /// <summary>Evaluation batch (null: a default for the model).</summary>
    public int? EvalBatch { get; init; }

    public int ScheduleTotal => DecaySteps ?? Steps + 1;

    public TrainOptions Validate()
    {
        Model.Validate();
        if (Task == TrainingTask.Automaton && Model.VocabSize != RawFlipFlop.Engine.Data.Automaton.InputVocabulary)
            throw new ArgumentException($"the automaton task needs vocab_size {RawFlipFlop.Engine.Data.Automaton.InputVocabulary}, got {Model.VocabSize}");
        if (Steps < 1) throw new ArgumentException($"steps must be at least 1, got {Steps}");
        if (Batch < 1) throw new ArgumentException($"batch must be at least 1, got {Batch}");
        if (Task == TrainingTask.FlipFlop) FlipFlopSampler.CheckLength(Length);
        else if (Length < 1) throw new ArgumentException($"length must be positive, got {Length}");
        if (Length > Model.MaxSequenceLength) throw new ArgumentException($"length {Length} exceeds the model's max_length {Model.MaxLength}");
        if (!(LearningRate >= 0)) throw new ArgumentException($"lr must be non-negative, got {LearningRate}");
        if (!(WeightDecay >= 0)) throw new ArgumentException($"weight decay must be non-negative, got {WeightDecay}");
        if (Warmup < 0) throw new ArgumentException($"warmup must be non-negative, got {Warmup}");
        foreach (var (name, p) in new[] { ("dropout-emb", DropoutEmbedding), ("dropout-attn", DropoutAttention), ("dropout-ff", DropoutFeedForward) })
            if (!(p >= 0 && p < 1)) throw new ArgumentException($"{name} must be in [0, 1), got {p}");
        if (Model.IsLstm && (DropoutEmbedding > 0 || DropoutAttention > 0 || DropoutFeedForward > 0 || Sharpen != 0))
            throw new ArgumentException("dropout and sharpening options apply to the transformer only");
        if (SharpenLayers != null)
            foreach (var l in SharpenLayers)
                if (l < 0 || l >= Model.Layers) throw new ArgumentException($"sharpen layer {l} outside 0..{Model.Layers - 1}");
        if (EvalEvery < 0 || EvalCount < 0) throw new ArgumentException("eval-every and eval-count must be non-negative");
        return this;
    }

    public PassOptions PassAt(long step) => new()
    {
        DropoutEmbedding = DropoutEmbedding, DropoutAttention = DropoutAttention, DropoutFeedForward = DropoutFeedForward,
        DropoutSeed = Seed, Step = step, Sharpen = Sharpen, SharpenLayers = SharpenLayers,
    };
}
