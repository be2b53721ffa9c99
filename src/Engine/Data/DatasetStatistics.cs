namespace RawFlipFlop.Engine.Data;

/// <summary>Counts over a dataset: instructions, reads and the dependency length of each read.</summary>
public sealed record DatasetStatistics(
    long Sequences, int Length, long Writes, long Reads, long Ignores,
    double MeanDependency, int MaxDependency, long SequencesWithLongestDependency)
{
    /// <summary>
    /// The dependency length of a read is the distance, in tokens, from its instruction to the instruction of
    /// the write it reads (2 for "w0r0").
    /// </summary>
    public static DatasetStatistics Of(FlipFlopDataset dataset)
    {
        long writes = 0, reads = 0, ignores = 0, dependencySum = 0, atMax = 0;
        int maxDependency = 0;
        for (int s = 0; s < dataset.Count; s++)
        {
            var seq = dataset.Sequence(s);
            int lastWrite = -1, seqMax = 0;
            for (int t = 0; t < seq.Length; t += 2)
            {
                switch (seq[t])
                {
                    case Tokens.Write: writes++; lastWrite = t; break;
                    case Tokens.Ignore: ignores++; break;
                    case Tokens.Read:
                        reads++;
                        int d = t - lastWrite;
                        dependencySum += d;
                        seqMax = Math.Max(seqMax, d);
                        break;
                }
            }
            if (seqMax > maxDependency) { maxDependency = seqMax; atMax = 0; }
            if (seqMax == maxDependency && seqMax > 0) atMax++;
        }
        return new DatasetStatistics(dataset.Count, dataset.Length, writes, reads, ignores,
            reads == 0 ? 0 : (double)dependencySum / reads, maxDependency, atMax);
    }
}
