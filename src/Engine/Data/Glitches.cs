namespace RawFlipFlop.Engine.Data;

/// <summary>
/// One error of a model: the sequence's index in its evaluation set (so it can be generated again), the position of
/// the read (or, for the automaton, of the input), the dependency length (tokens back to the write it must recall),
/// the token the model predicted and the probability the model gave the right answer.
/// </summary>
public sealed record Glitch(long Sequence, int Position, int Dependency, int Predicted, double PCorrect)
{
    /// <summary>Glitch records kept per evaluation (split and iterate); errors beyond are counted, not recorded.</summary>
    public const int MaxRecords = 100;

    /// <summary>The record of the error at (row, class target) of logits (V values): its argmax and softmax probability of target.</summary>
    public static Glitch Of(long sequence, int position, int dependency, ReadOnlySpan<float> logits, int target)
    {
        int argmax = 0;
        float max = logits[0];
        for (int v = 1; v < logits.Length; v++)
            if (logits[v] > max) { max = logits[v]; argmax = v; }
        double sum = 0;
        for (int v = 0; v < logits.Length; v++) sum += Math.Exp(logits[v] - max);
        return new Glitch(sequence, position, dependency, argmax, Math.Exp(logits[target] - max) / sum);
    }
}

/// <summary>Reads (scored positions) and errors whose dependency length lies in [Min, Max].</summary>
public sealed record DependencyBucket(int Min, int Max, long Reads, long Errors)
{
    public double ErrorRate => Reads == 0 ? 0 : (double)Errors / Reads;

    /// <summary>
    /// Exact dependency lengths grouped into powers of two ([0,1], [2,3], [4,7], [8,15], ...): a few buckets a split,
    /// fine where dependencies are short and coarse in the long tail where the paper's glitches live.
    /// </summary>
    public static IReadOnlyList<DependencyBucket> Of(IReadOnlyDictionary<int, (long Reads, long Errors)> byLength)
    {
        var buckets = new SortedDictionary<int, (long Reads, long Errors)>();
        foreach (var (length, (reads, errors)) in byLength)
        {
            int k = length <= 1 ? 0 : System.Numerics.BitOperations.Log2((uint)length);
            buckets.TryGetValue(k, out var cell);
            buckets[k] = (cell.Reads + reads, cell.Errors + errors);
        }
        return buckets.Select(kv => new DependencyBucket(kv.Key == 0 ? 0 : 1 << kv.Key, kv.Key == 0 ? 1 : (1 << (kv.Key + 1)) - 1,
            kv.Value.Reads, kv.Value.Errors)).ToList();
    }
}
