using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Engine.Data;

/// <summary>
/// A named, fixed evaluation set: sequence k is sequence k of the Dataset-domain stream with the set's seed,
/// so a set of any size is a prefix of the same infinite stream, identical across runs and machines.
/// </summary>
public sealed record EvaluationSet(string Name, FlipFlopDistribution Distribution, ulong Seed, int DefaultCount, string Description)
{
    public FlipFlopDataset Generate(int? count = null, int length = EvaluationSets.DefaultLength) =>
        new FlipFlopSampler(Distribution).SampleMany(Seed, RandomDomain.Dataset, 0, count ?? DefaultCount, length);
}

/// <summary>The paper's evaluation sets (sizes from Appendix B.2; every size can be overridden).</summary>
public static class EvaluationSets
{
    public const int DefaultLength = 512;

    /// <summary>In-distribution FFL(0.8), 10^4 sequences.</summary>
    public static readonly EvaluationSet Indist = new("indist", FlipFlopDistribution.Train, 1_000_001, 10_000,
        "in-distribution FFL(0.8)");
    /// <summary>Sparse FFL(0.98) (long dependencies), 10^5 sequences offline (about 354k reads).</summary>
    public static readonly EvaluationSet Sparse = new("sparse", FlipFlopDistribution.Sparse, 1_000_002, 100_000,
        "sparse FFL(0.98), offline");
    /// <summary>Dense FFL(0.1), 10^5 sequences offline.</summary>
    public static readonly EvaluationSet Dense = new("dense", FlipFlopDistribution.Dense, 1_000_003, 100_000,
        "dense FFL(0.1), offline");
    /// <summary>The online sparse set, 10^3 FFL(0.98) sequences evaluated during training. Its own seed keeps
    /// best-so-far selection independent of the offline sparse set it is then measured on.</summary>
    public static readonly EvaluationSet Online = new("online", FlipFlopDistribution.Sparse, 1_000_004, 1_000,
        "sparse FFL(0.98), online during training");

    /// <summary>FFL(0.9), 10^5 sequences: the rare mixture's third component (with sparse and dense), so its errors are
    /// reported on each component.</summary>
    public static readonly EvaluationSet Medium = new("medium", FlipFlopDistribution.WithIgnore(0.9), 1_000_007, 100_000,
        "FFL(0.9), offline (the rare mixture's third component)");

    public static IReadOnlyList<EvaluationSet> All { get; } = [Indist, Sparse, Dense, Online, Medium];

    public static EvaluationSet ByName(string name) =>
        All.FirstOrDefault(s => s.Name.Equals(name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"unknown evaluation set '{name}' (known: {string.Join(", ", All.Select(s => s.Name))})");

    public static bool TryByName(string name, out EvaluationSet set)
    {
        set = All.FirstOrDefault(s => s.Name.Equals(name, StringComparison.OrdinalIgnoreCase))!;
        return set != null;
    }
}
