using BenchmarkDotNet.Attributes;
using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Bench;

/// <summary>Sampling the paper's offline evaluation sets (target: the 10^5 sparse set in under 1 s on 2 cores).</summary>
[MemoryDiagnoser]
public class DataBenchmarks
{
    [Benchmark(Description = "sparse set, 10^5 x 512")]
    public FlipFlopDataset SparseOffline() => EvaluationSets.Sparse.Generate();

    [Benchmark(Description = "dense set, 10^5 x 512")]
    public FlipFlopDataset DenseOffline() => EvaluationSets.Dense.Generate();

    [Benchmark(Description = "one training batch, 16 x 512")]
    public FlipFlopDataset TrainingBatch() => EvaluationSets.Indist.Generate(16);
}
