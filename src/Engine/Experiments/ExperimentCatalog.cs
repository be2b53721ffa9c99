using System.Text.Json.Serialization;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Engine.Experiments;

/// <summary>Paper settings, or a CPU-friendly reduction that keeps each experiment's shape (same settings and evaluations, smaller sizes).</summary>
public enum Scale
{
    Paper,
    Quick,
}

/// <summary>
/// One run of an experiment: setting s, replicate r, fully specified. Its id (experiment/setting/r) is its key in
/// the results store and its directory under the output.
/// </summary>
public sealed record RunSpec(string Experiment, string Setting, int Replicate, TrainOptions Options)
{
    public string Id => $"{Experiment}/{Setting}/{Replicate}";
}

/// <summary>A named experiment: what it reproduces and how it expands into runs.</summary>
public sealed record ExperimentDefinition(string Name, string Reproduces, string Description, int PaperReplicates, int QuickReplicates,
    Func<Scale, IReadOnlyList<(string Setting, TrainOptions Options, ulong? DataSeed, ulong? ModelSeed)>> Settings)
{
    /// <summary>
    /// The runs at a scale: every setting x replicates. Replicate r has model seed 1 + r and data seed 101 + r (the
    /// same across settings, so settings are compared on the same data); a setting may fix its own seeds instead.
    /// </summary>
    public IReadOnlyList<RunSpec> Runs(Scale scale, int? replicates = null)
    {
        int count = replicates ?? (scale == Scale.Paper ? PaperReplicates : QuickReplicates);
        if (count < 1) throw new ArgumentException($"replicates must be at least 1, got {count}");
        var runs = new List<RunSpec>();
        foreach (var (setting, options, dataSeed, modelSeed) in Settings(scale))
            for (int r = 0; r < count; r++)
                runs.Add(new RunSpec(Name, setting, r, options with
                {
                    Seed = modelSeed ?? 1 + (ulong)r,
                    DataSeed = dataSeed ?? 101 + (ulong)r,
                }));
        return runs;
    }
}

/// <summary>The fixed experiment programs for the paper's results (README "Experiments" lists them).</summary>
public static class ExperimentCatalog
{
    /// <summary>The paper's Transformer baseline run (Appendix B.2): 10^4 steps, online eval every 100 steps on 10^3 sparse sequences.</summary>
    public static TrainOptions PaperBaseline => new()
    {
        Model = ModelConfig.Transformer(6, 512, 8, 512),
        Steps = 10_000, Batch = 16, Length = 512, LearningRate = 3e-4, WeightDecay = 0.1, Warmup = 50,
        EvalEvery = 100, EvalCount = 1_000, Offline = [new("sparse", 100_000), new("dense", 100_000), new("indist", 10_000)],
    };

    /// <summary>
    /// Quick baseline: a 2-layer, 32-wide, 2-head Transformer on length-64 sequences, 300 steps at lr 3e-3 (warm-up 10),
    /// online eval every 50 steps on 200 sparse sequences, offline 1000 sparse, 1000 dense, 500 in-distribution.
    /// </summary>
    public static TrainOptions QuickBaseline => new()
    {
        Model = ModelConfig.Transformer(2, 32, 2, 64),
        Steps = 300, Batch = 16, Length = 64, LearningRate = 3e-3, WeightDecay = 0.1, Warmup = 10,
        EvalEvery = 50, EvalCount = 200, Offline = [new("sparse", 1_000), new("dense", 1_000), new("indist", 500)],
    };

    static TrainOptions Baseline(Scale s) => s == Scale.Paper ? PaperBaseline : QuickBaseline;

    static TrainOptions WithModel(TrainOptions o, int layers, int dim, int heads, PositionEncoding pos = PositionEncoding.Learned) =>
        o with { Model = ModelConfig.Transformer(layers, dim, heads, o.Length, pos) };

    /// <summary>The paper's LSTM (R2): 500 steps, offline 10^5 sparse and dense. Quick: 32-wide on length 64, 300 steps at lr 1e-2.</summary>
    static TrainOptions Lstm(Scale s) => s == Scale.Paper
        ? new TrainOptions
        {
            Model = ModelConfig.Lstm(128, 128), Steps = 500, Batch = 16, Length = 512, LearningRate = 3e-4, WeightDecay = 0.1, Warmup = 50,
            EvalEvery = 100, EvalCount = 1_000, Offline = [new("sparse", 100_000), new("dense", 100_000)],
        }
        : new TrainOptions
        {
            Model = ModelConfig.Lstm(32, 32), Steps = 300, Batch = 16, Length = 64, LearningRate = 1e-2, WeightDecay = 0.1, Warmup = 10,
            EvalEvery = 100, EvalCount = 200, Offline = [new("sparse", 1_000), new("dense", 1_000)],
        };

    public static IReadOnlyList<ExperimentDefinition> All { get; } =
    [
        new("lstm", "R2", "the 133K-parameter LSTM reaches zero read errors on sparse and dense sequences", 100, 2,
            s => [("lstm", Lstm(s), null, null)]),

        new("baseline", "R1, Figure 2", "the 6-layer 512-wide Transformer: online errors every 100 steps, offline final and best-so-far", 5, 1,
            s => [("baseline", Baseline(s), null, null)]),

        new("size-sweep", "R1, Figure 5", "layers x width x heads (paper: {2,4,6,8} x {128,256,512,1024} x {2,4,8,16}; quick: {1,2} x {16,32} x {1,2})", 3, 1,
            s =>
            {
                int[] layers = s == Scale.Paper ? [2, 4, 6, 8] : [1, 2];
                int[] dims = s == Scale.Paper ? [128, 256, 512, 1024] : [16, 32];
                int[] heads = s == Scale.Paper ? [2, 4, 8, 16] : [1, 2];
                return [.. from l in layers from d in dims from h in heads
                           select ($"L{l}-d{d}-H{h}", WithModel(Baseline(s), l, d, h), (ulong?)null, (ulong?)null)];
            }),

        new("seeds", "Figure 6 (left)", "the baseline over data seeds x model seeds (paper 5 x 5; quick 2 x 2)", 1, 1,
            s =>
            {
                int n = s == Scale.Paper ? 5 : 2;
                return [.. from i in Enumerable.Range(0, n) from j in Enumerable.Range(0, n)
                           select ($"data{i}-model{j}", Baseline(s), (ulong?)(101 + i), (ulong?)(1 + j))];
            }),

        new("rare-mixture", "R4", "the baseline trained on the uniform mixture of FFL(0.9), FFL(0.98), FFL(0.1), against FFL(0.8)", 5, 1,
            s => [("ffl-0.8", Baseline(s), null, null),
                  ("mixture-0.9-0.98-0.1", Baseline(s) with { Data = FlipFlopMixture.OfIgnoreProbabilities([0.9, 0.98, 0.1]) }, null, null)]),

        new("scaling", "R5", "more in-distribution data per step (batch x4), more steps (x3), wider (d x2) and deeper (L x2) models", 3, 1,
            s =>
            {
                var b = Baseline(s);
                var m = b.Model;
                return [("baseline", b, null, null),
                        ("batch-x4", b with { Batch = 4 * b.Batch }, null, null),
                        ("steps-x3", b with { Steps = 3 * b.Steps }, null, null),
                        ("width-x2", WithModel(b, m.Layers, 2 * m.Dim, 2 * m.Heads), null, null),
                        ("depth-x2", WithModel(b, 2 * m.Layers, m.Dim, m.Heads), null, null)];
            }),

        new("mitigations", "R6, R7", "weight decay, dropout (attention, feed-forward, embeddings), position encodings, attention sharpening", 3, 1,
            s =>
            {
                var b = Baseline(s);
                var m = b.Model;
                var list = new List<(string, TrainOptions, ulong?, ulong?)> { ("baseline", b, null, null) };
                foreach (var wd in new[] { 0.0, 1.0 }) list.Add(($"weight-decay-{wd:0.0}", b with { WeightDecay = wd }, null, null));
                foreach (var p in new[] { 0.1f, 0.5f })
                {
                    list.Add(($"dropout-attn-{p:0.0}", b with { DropoutAttention = p }, null, null));
                    list.Add(($"dropout-ff-{p:0.0}", b with { DropoutFeedForward = p }, null, null));
                    list.Add(($"dropout-emb-{p:0.0}", b with { DropoutEmbedding = p }, null, null));
                }
                foreach (var pos in new[] { PositionEncoding.Sinusoidal, PositionEncoding.Rope, PositionEncoding.Alibi, PositionEncoding.None, PositionEncoding.Linear })
                    list.Add(($"pos-{pos.ToString().ToLowerInvariant()}", WithModel(b, m.Layers, m.Dim, m.Heads, pos), null, null));
                foreach (var lambda in new[] { 0.01, 0.1 })
                {
                    list.Add(($"sharpen-all-{lambda}", b with { Sharpen = lambda }, null, null));
                    list.Add(($"sharpen-first-{lambda}", b with { Sharpen = lambda, SharpenLayers = [0] }, null, null));
                }
                return list;
            }),

        new("mechanistic", "R8, Appendix B.5, Figures 10, 11, 13",
            "the flip-flop automaton with 1-layer 1-head models with and without sharpening (attention maps on [s1,_,s0,_,_,s0,s1,_]) and the attention drift of a linear-position model trained on length 500, tested on 834", 1, 1,
            s =>
            {
                int dim = s == Scale.Paper ? 64 : 16, length = s == Scale.Paper ? 500 : 64, steps = s == Scale.Paper ? 10_000 : 400;
                TrainOptions Make(PositionEncoding pos, double sharpen) => new()
                {
                    Task = TaskKind.Automaton, AutomatonPWrite = 0.5,
                    Model = ModelConfig.Transformer(1, dim, 1, length, pos) with { VocabSize = Automaton.InputVocabulary },
                    Steps = steps, Batch = 16, Length = length, LearningRate = s == Scale.Paper ? 3e-4 : 3e-3, WeightDecay = 0.1,
                    Warmup = s == Scale.Paper ? 50 : 10, Sharpen = sharpen, EvalEvery = s == Scale.Paper ? 500 : 100,
                    EvalCount = s == Scale.Paper ? 1000 : 100, Offline = [],
                };
                return [("learned", Make(PositionEncoding.Learned, 0), null, null),
                        ("learned-sharpen", Make(PositionEncoding.Learned, 0.1), null, null),
                        ("linear-drift", Make(PositionEncoding.Linear, 0), null, null)];
            }),

        new("generative", "R1 (noisy mode)", "the baseline trained in generative mode (loss on every next token), read errors as usual", 5, 1,
            s => [("generative", Baseline(s) with { Mode = LossMode.Generative }, null, null)]),
    ];

    public static ExperimentDefinition ByName(string name) =>
        All.FirstOrDefault(e => e.Name == name) ?? throw new ArgumentException($"unknown experiment \"{name}\" (known: {string.Join(", ", All.Select(e => e.Name))})");
}
