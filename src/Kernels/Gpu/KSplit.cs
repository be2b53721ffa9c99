namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// How a weight gradient's sum over its N rows is cut into slices that separate blocks reduce, each into its own
/// partial sums, which matmul_split_k_reduce then adds in slice order (deterministic split-K, no atomics). The rule
/// depends on the shape only, never on the device, so every GPU and the emulator add in one order and agree bit for bit.
/// </summary>
public readonly record struct KSplit(int Slices, int SliceLength)
{
    /// <summary>
    /// The blocks a launch aims for: two waves on the design target, an H100 (132 SMs) running 3 tile blocks per SM
    /// (TC_SHARED_BYTES = 72 KiB of shared memory each). A weight gradient of the baseline has 16 to 256 tiles.
    /// </summary>
    public const int TargetBlocks = 2 * 132 * 3;

    /// <summary>
    /// Slices of <paramref name="k"/> rows for a grid of <paramref name="tiles"/> blocks per slice: as many as give
    /// <see cref="TargetBlocks"/> blocks, but each slice a whole number of <paramref name="granule"/> rows (a kernel's
    /// k step) and at least <paramref name="minGranules"/> of them (so a slice keeps the pipeline full), as even as the
    /// granule allows; the last slice may be shorter.
    /// </summary>
    public static KSplit For(long k, int granule, int minGranules, long tiles)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(granule);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(tiles);
        long granules = Math.Max(1, (k + granule - 1) / granule);
        long wanted = (TargetBlocks + tiles - 1) / tiles;
        long slices = Math.Clamp(wanted, 1, Math.Max(1, granules / Math.Max(1, minGranules)));
        long sliceGranules = (granules + slices - 1) / slices;
        long length = sliceGranules * granule;
        return new KSplit((int)((Math.Max(k, 1) + length - 1) / length), checked((int)length));
    }
}
