namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// How a weight gradient's sum over its N rows is cut into slices that separate blocks reduce, each into its own
/// partial sums, which matmul_split_k_reduce then adds in slice order (deterministic split-K, no atomics). The rule
/// depends on the shape only, never on the device, so every GPU and the emulator add in one order and agree bit for bit.
/// </summary>
public readonly record struct KSplit(int Slices, int SliceLength)
{
    /// <summary>The streaming multiprocessors of the design target, an H100 SXM.</summary>
    public const int TargetSms = 132;

    /// <summary>
    /// The blocks a launch aims for: two waves on the design target (132 SMs) of a kernel that has
    /// <paramref name="blocksPerSm"/> blocks resident on each SM.
    /// </summary>
    public static long TargetBlocks(int blocksPerSm) => 2L * TargetSms * blocksPerSm;

    /// <summary>
    /// Slices of <paramref name="k"/> rows for a grid of <paramref name="tiles"/> blocks per slice: at least as many
    /// as give <see cref="TargetBlocks"/> blocks, but each slice a whole number of <paramref name="granule"/> rows (a
    /// kernel's k step) and at least <paramref name="minGranules"/> of them (so a slice keeps the pipeline full);
    /// the last slice may be shorter.
    /// </summary>
    public static KSplit For(long k, int granule, int minGranules, long tiles, int blocksPerSm)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(granule);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tiles);
        long granules = Math.Max(1, (k + granule - 1) / granule);
        long wanted = (TargetBlocks(blocksPerSm) + tiles - 1) / tiles;
        // rounded down, so the slices are at least the wanted number unless a slice would get too short
        long sliceGranules = Math.Min(granules, Math.Max(Math.Max(1, minGranules), granules / Math.Max(1, wanted)));
        long length = sliceGranules * granule;
        return new KSplit((int)((Math.Max(k, 1) + length - 1) / length), checked((int)length));
    }
}
