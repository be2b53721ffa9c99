using System.Text.Json.Serialization;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Engine.Experiments;

/// <summary>The size an experiment runs at.</summary>
public enum Scale
{
    /// <summary>The paper's models, steps, evaluation sets and replicate counts.</summary>
    Paper,
    /// <summary>A reduction for checking the pipeline in seconds to minutes: same settings and evaluations, tiny models far from converged.</summary>
    Quick,
    /// <summary>
    /// The smallest models found (bench/cpu-scale-search.sh) that reach 0 in-distribution errors on the CPU within minutes
    /// while still misreading out of distribution: the paper's R1 signature on a 2-core machine. Not every experiment has one.
    /// </summary>
    Cpu,
}

/// <summary>
/// One run of an experiment: setting s, replicate r, fully specified. Its id (experiment/setting/r) is its key in
/// the results store and its directory under the output.
/// </summary>
public sealed record RunSpec(string Experiment, string Setting, int Replicate, TrainOptions Options)
{
    public string Id => $"{Experiment}/{Setting}/{Replicate}";
}

/// <summary>
/// One setting of an experiment: its name, its options, seeds it fixes itself (else replicate r has model seed 1 + r
/// and data seed 101 + r) and, where they differ from the experiment's, its own paper- and cpu-scale replicate counts.
/// </summary>
public sealed record ExperimentSetting(string Name, TrainOptions Options, ulong? DataSeed = null, ulong? ModelSeed = null, int? PaperReplicates = null,
    int? CpuReplicates = null);

/// <summary>A named experiment: what it reproduces and how it expands into runs.</summary>
public sealed record ExperimentDefinition(string Name, string Reproduces, string Description, int PaperReplicates, int QuickReplicates,
    Func<Scale, IReadOnlyList<ExperimentSetting>> Settings, int? CpuReplicates = null)
{
    /// <summary>Whether the experiment runs at <paramref name="scale"/> (every experiment has paper and quick; some have cpu).</summary>
    public bool Has(Scale scale) => scale != Scale.Cpu || CpuReplicates is not null;

    /// <summary>
    /// The runs at a scale: every setting x replicates. Replicate r has model seed 1 + r and data seed 101 + r (the
    /// same across settings, so settings are compared on the same data); a setting may fix its own seeds instead.
    /// <paramref name="replicates"/> overrides every setting's count.
    /// </summary>
    public IReadOnlyList<RunSpec> Runs(Scale scale, int? replicates = null)
    {
        if (replicates is < 1) throw new ArgumentException($"replicates must be at least 1, got {replicates}");
        if (!Has(scale))
            throw new ArgumentException($"experiment \"{Name}\" has no cpu scale (experiments with one: {string.Join(", ", ExperimentCatalog.All.Where(e => e.Has(Scale.Cpu)).Select(e => e.Name))})");
        var runs = new List<RunSpec>();
        foreach (var setting in Settings(scale))
        {
            int count = replicates ?? scale switch
            {
                Scale.Paper => setting.PaperReplicates ?? PaperReplicates,
                Scale.Cpu => setting.CpuReplicates ?? CpuReplicates!.Value,
                _ => QuickReplicates,
            };
            for (int r = 0; r < count; r++)
                runs.Add(new RunSpec(Name, setting.Name, r, setting.Options with
                {
                    Seed = setting.ModelSeed ?? 1 + (ulong)r,
                    DataSeed = setting.DataSeed ?? 101 + (ulong)r,
                }));
        }
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

    /// <summary>
    /// The cpu baseline, from bench/cpu-scale-search.sh (README, "The cpu scale"): a 2-layer, 32-wide, 2-head Transformer
    /// on length-64 sequences, batch 32, 4000 steps at lr 2e-3 (warm-up 100); online every 500 steps on 1000 sparse
    /// sequences; offline 10^4 each of in-distribution, sparse and dense sequences. A few minutes per run on 2 cores.
    /// </summary>
    public static TrainOptions CpuBaseline => new()
    {
        Model = ModelConfig.Transformer(2, 32, 2, 64),
        Steps = 4_000, Batch = 32, Length = 64, LearningRate = 2e-3, WeightDecay = 0.1, Warmup = 100,
        EvalEvery = 500, EvalCount = 1_000, Offline = [new("sparse", 10_000), new("dense", 10_000), new("indist", 10_000)],
    };

    static TrainOptions Baseline(Scale s) => s switch { Scale.Paper => PaperBaseline, Scale.Cpu => CpuBaseline, _ => QuickBaseline };

    static TrainOptions WithModel(TrainOptions o, int layers, int dim, int heads, PositionEncoding pos = PositionEncoding.Learned) =>
        o with { Model = ModelConfig.Transformer(layers, dim, heads, o.Length, pos) };

    /// <summary>
    /// The paper's LSTM (R2): 500 steps, offline 10^5 sparse and dense. Quick: 32-wide on length 64, 300 steps at lr 1e-2.
    /// Cpu: 32-wide on the cpu baseline's length, batch and evaluation sets, 1000 steps at lr 3e-3.
    /// </summary>
    static TrainOptions Lstm(Scale s) => s switch
    {
        Scale.Paper => new TrainOptions
        {
            Model = ModelConfig.Lstm(128, 128), Steps = 500, Batch = 16, Length = 512, LearningRate = 3e-4, WeightDecay = 0.1, Warmup = 50,
            EvalEvery = 100, EvalCount = 1_000, Offline = [new("sparse", 100_000), new("dense", 100_000)],
        },
        Scale.Cpu => CpuBaseline with { Model = ModelConfig.Lstm(32, 32), Steps = 1_000, LearningRate = 3e-3, Warmup = 50 },
        _ => new TrainOptions
        {
            Model = ModelConfig.Lstm(32, 32), Steps = 300, Batch = 16, Length = 64, LearningRate = 1e-2, WeightDecay = 0.1, Warmup = 10,
            EvalEvery = 100, EvalCount = 200, Offline = [new("sparse", 1_000), new("dense", 1_000)],
        },
    };

    public static IReadOnlyList<ExperimentDefinition> All { get; } =
    [
        new("lstm", "R2", "the 133K-parameter LSTM reaches zero read errors on sparse and dense sequences", 100, 2,
            s => [new ExperimentSetting("lstm", Lstm(s))], CpuReplicates: 5),

        new("baseline", "R1, Figure 2", "the 6-layer 512-wide Transformer: online errors every 100 steps, offline final and best-so-far", 500, 1,
            s => [new ExperimentSetting("baseline", Baseline(s))], CpuReplicates: 5),

        new("size-sweep", "R1, Figure 5", "layers x width x heads (paper: {2,4,6,8} x {128,256,512,1024} x {2,4,8,16}; quick: {1,2} x {16,32} x {1,2})", 3, 1,
            s =>
            {
                int[] layers = s == Scale.Paper ? [2, 4, 6, 8] : [1, 2];
                int[] dims = s == Scale.Paper ? [128, 256, 512, 1024] : [16, 32];
                int[] heads = s == Scale.Paper ? [2, 4, 8, 16] : [1, 2];
                return [.. from l in layers from d in dims from h in heads
                           select new ExperimentSetting($"L{l}-d{d}-H{h}", WithModel(Baseline(s), l, d, h))];
            }),

        new("seeds", "Figure 6 (left)", "the baseline over data seeds x model seeds (paper 5 x 5; cpu 3 x 3; quick 2 x 2)", 1, 1,
            s =>
            {
                int n = s switch { Scale.Paper => 5, Scale.Cpu => 3, _ => 2 };
                return [.. from i in Enumerable.Range(0, n) from j in Enumerable.Range(0, n)
                           select new ExperimentSetting($"data{i}-model{j}", Baseline(s), DataSeed: 101 + (ulong)i, ModelSeed: 1 + (ulong)j)];
            }, CpuReplicates: 1),

        new("rare-mixture", "R4", "the baseline trained on the uniform mixture of FFL(0.9), FFL(0.98), FFL(0.1), against FFL(0.8); errors on each component", 25, 1,
            s =>
            {
                // every component of the mixture is an offline split: medium is FFL(0.9), sparse FFL(0.98), dense FFL(0.1)
                var b = Baseline(s);
                var withComponents = b with { Offline = [.. b.Offline, new OfflineSplit("medium", b.Offline[0].Count)] };
                return [new ExperimentSetting("ffl-0.8", withComponents),
                        new ExperimentSetting("mixture-0.9-0.98-0.1", withComponents with { Data = FlipFlopMixture.OfIgnoreProbabilities([0.9, 0.98, 0.1]) })];
            }, CpuReplicates: 3),

        new("scaling", "R5", "more in-distribution data per step (batch x4), more steps (x3), wider (d x2) and deeper (L x2) models", 25, 1,
            s =>
            {
                var b = Baseline(s);
                var m = b.Model;
                return [new ExperimentSetting("baseline", b),
                        new ExperimentSetting("batch-x4", b with { Batch = 4 * b.Batch }),
                        new ExperimentSetting("steps-x3", b with { Steps = 3 * b.Steps }),
                        new ExperimentSetting("width-x2", WithModel(b, m.Layers, 2 * m.Dim, 2 * m.Heads)),
                        new ExperimentSetting("depth-x2", WithModel(b, 2 * m.Layers, m.Dim, m.Heads))];
            }),

        new("mitigations", "R6, R7", "weight decay, dropout (attention, feed-forward, embeddings), position encodings, attention sharpening " +
            "(cpu: baseline, weight decay 0 and 1.0, attention dropout 0.1, ALiBi, sharpening 0.01 and 0.1 on all layers)", 25, 1,
            s =>
            {
                var b = Baseline(s);
                var m = b.Model;
                var list = new List<ExperimentSetting> { new("baseline", b) };
                if (s == Scale.Cpu)
                {
                    // a reduced list: one of each kind of mitigation, a few minutes per run
                    list.Add(new("weight-decay-0.0", b with { WeightDecay = 0.0 }));
                    list.Add(new("weight-decay-1.0", b with { WeightDecay = 1.0 }));
                    list.Add(new("dropout-attn-0.1", b with { DropoutAttention = 0.1f }));
                    list.Add(new("pos-alibi", WithModel(b, m.Layers, m.Dim, m.Heads, PositionEncoding.Alibi)));
                    list.Add(new("sharpen-all-0.01", b with { Sharpen = 0.01 }));
                    list.Add(new("sharpen-all-0.1", b with { Sharpen = 0.1 }));
                    return list;
                }
                foreach (var wd in new[] { 0.0, 1.0 }) list.Add(new($"weight-decay-{wd:0.0}", b with { WeightDecay = wd }));
                foreach (var p in new[] { 0.1f, 0.5f })
                {
                    list.Add(new($"dropout-attn-{p:0.0}", b with { DropoutAttention = p }));
                    list.Add(new($"dropout-ff-{p:0.0}", b with { DropoutFeedForward = p }));
                    list.Add(new($"dropout-emb-{p:0.0}", b with { DropoutEmbedding = p }));
                }
                foreach (var pos in new[] { PositionEncoding.Sinusoidal, PositionEncoding.Rope, PositionEncoding.Alibi, PositionEncoding.None, PositionEncoding.Linear })
                    list.Add(new($"pos-{pos.ToString().ToLowerInvariant()}", WithModel(b, m.Layers, m.Dim, m.Heads, pos)));
                foreach (var lambda in new[] { 0.01, 0.1 })
                {
                    list.Add(new($"sharpen-all-{lambda}", b with { Sharpen = lambda }));
                    list.Add(new($"sharpen-first-{lambda}", b with { Sharpen = lambda, SharpenLayers = [0] }));
                }
                return list;
            }, CpuReplicates: 3),

        new("mechanistic", "R8, Appendix B.5, Figures 10, 11, 12, 13, 16, 17",
            "the flip-flop automaton: 1-layer 1-head models without sharpening, with it, and with it from 30% of training (8 each; weight norms as " +
            "Figure 12), a linear-position model trained on length 500 and tested on 834 (drift, Figure 11), and 6-layer 8-head models without " +
            "sharpening, with it on all layers and on the first only (attention grids of Figures 16 and 17); attention maps on [s1,_,s0,_,_,s0,s1,_]", 8, 1,
            s =>
            {
                bool paper = s == Scale.Paper, cpu = s == Scale.Cpu;
                int length = paper ? 500 : cpu ? 128 : 64, steps = paper ? 10_000 : cpu ? 2_000 : 400;
                TrainOptions Make(int layers, int dim, int heads, PositionEncoding pos, double sharpen) => new()
                {
                    Task = TaskKind.Automaton, AutomatonPWrite = 0.5,
                    Model = ModelConfig.Transformer(layers, dim, heads, length, pos) with { VocabSize = Automaton.InputVocabulary },
                    Steps = steps, Batch = 16, Length = length, LearningRate = paper ? 3e-4 : cpu ? 1e-3 : 3e-3, WeightDecay = 0.1,
                    Warmup = paper ? 50 : cpu ? 100 : 10, Sharpen = sharpen, EvalEvery = paper ? 500 : cpu ? 200 : 100,
                    EvalCount = paper || cpu ? 1000 : 100, Offline = [],
                };
                TrainOptions Shallow(PositionEncoding pos, double sharpen) => Make(1, paper ? 64 : cpu ? 32 : 16, 1, pos, sharpen);
                TrainOptions Deep(double sharpen) => Make(paper ? 6 : cpu ? 3 : 2, paper ? 512 : cpu ? 64 : 16, paper ? 8 : cpu ? 4 : 2, PositionEncoding.Learned, sharpen);
                return [new ExperimentSetting("learned", Shallow(PositionEncoding.Learned, 0)),
                        new ExperimentSetting("learned-sharpen", Shallow(PositionEncoding.Learned, 0.1)),
                        // Figure 12's third curve: sharpening switched on 30% into training (its epoch 30)
                        new ExperimentSetting("learned-sharpen-from-30pct", Shallow(PositionEncoding.Learned, 0.1) with { SharpenFrom = 3 * steps / 10 }),
                        new ExperimentSetting("linear-drift", Shallow(PositionEncoding.Linear, 0), PaperReplicates: 1, CpuReplicates: 1),
                        new ExperimentSetting("deep", Deep(0), PaperReplicates: 1, CpuReplicates: 1),
                        new ExperimentSetting("deep-sharpen-all", Deep(0.01), PaperReplicates: 1, CpuReplicates: 1),
                        new ExperimentSetting("deep-sharpen-first", Deep(0.01) with { SharpenLayers = [0] }, PaperReplicates: 1, CpuReplicates: 1)];
            }, CpuReplicates: 4),

        new("generative", "R1 (noisy mode)", "the baseline trained in generative mode (loss on every next token), read errors as usual", 25, 1,
            s => [new ExperimentSetting("generative", Baseline(s) with { Mode = LossMode.Generative })]),
    ];

    public static ExperimentDefinition ByName(string name) =>
        All.FirstOrDefault(e => e.Name == name) ?? throw new ArgumentException($"unknown experiment \"{name}\" (known: {string.Join(", ", All.Select(e => e.Name))})");
}
