using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// How the tensor-core matmuls of kernels.cu cut their work, from its #defines: the 64 x 64 tile kernels
/// (TC_BM x TC_BN blocks, TC_BK-deep k slices, TC_SHARED_BYTES of dynamic shared memory) and the narrow kernels
/// for fewer than NARROW_COLS output columns (the head). The launchers (GpuOps.MatmulPrecision.cs) and the CPU twins
/// (Cpu/TensorCoreTwin.cs) both follow it, so the twins add in the kernels' order.
/// </summary>
public sealed record TensorCoreGeometry(int TileRows, int TileCols, int SliceDepth, int SharedBytes, int NarrowCols, int NarrowRows,
    int NarrowWarps, int NarrowWeightCols, int TileBlocksPerSm, int NarrowBlocksPerSm)
{
    /// <summary>The k step of one mma.m16n8k8: the narrow weight gradient's slices are whole steps.</summary>
    public const int MmaDepth = 8;

    /// <summary>The fewest TC_BK slices a split-K slice of the tile kernel gets (so its cp.async pipeline fills).</summary>
    public const int MinSliceGranules = 8;

    /// <summary>The fewest mma steps a split-K slice of the narrow weight gradient gets (32 rows).</summary>
    public const int MinNarrowSliceGranules = 4;

    public static TensorCoreGeometry From(KernelSource source) => new(source.Define("TC_BM"), source.Define("TC_BN"), source.Define("TC_BK"),
        source.Define("TC_SHARED_BYTES"), source.Define("NARROW_COLS"), source.Define("NARROW_ROWS"),
        source.Define("NARROW_THREADS") / source.Define("WARP_SIZE"), source.Define("NARROW_WEIGHT_COLS"), source.Define("TC_BLOCKS_PER_SM"),
        source.Define("NARROW_BLOCKS_PER_SM"));

    static readonly Lazy<TensorCoreGeometry> s_default = new(() => From(KernelSource.Default));

    /// <summary>The geometry of kernels.cu.</summary>
    public static TensorCoreGeometry Default => s_default.Value;

    /// <summary>Whether an output <paramref name="oc"/> columns wide goes to the narrow kernels (forward and weight gradient).</summary>
    public bool IsNarrow(int oc) => oc < NarrowCols;

    /// <summary>
    /// The split of a weight gradient dweight (OC,C) += doutput (N,OC)^T input (N,C) over its N rows: the tile
    /// kernel's slices are whole TC_BK slices, the narrow kernel's whole mma steps (<see cref="KSplit.For"/>).
    /// </summary>
    public KSplit WeightSplit(long n, int c, int oc) => IsNarrow(oc)
        ? KSplit.For(n, MmaDepth, MinNarrowSliceGranules, Dim3.Blocks(c, NarrowWeightCols), NarrowBlocksPerSm)
        : KSplit.For(n, SliceDepth, MinSliceGranules, (long)Dim3.Blocks(c, TileCols) * Dim3.Blocks(oc, TileRows), TileBlocksPerSm);

    /// <summary>
    /// The split of a narrow forward output (N,OC) = input (N,C) weight (OC,C)^T over its C columns: whole mma steps,
    /// at least one per warp, slices added in order by matmul_narrow_forward_reduce.
    /// </summary>
    public KSplit NarrowForwardSplit(int n, int c) => KSplit.For(c, MmaDepth, NarrowWarps, Dim3.Blocks(n, NarrowRows), NarrowBlocksPerSm);

    /// <summary>The grid of a forward (N,C) -> (N,OC) in a tensor-core precision.</summary>
    public Dim3 ForwardGrid(int n, int c, int oc) => IsNarrow(oc)
        ? new Dim3(Dim3.Blocks(n, NarrowRows), (uint)NarrowForwardSplit(n, c).Slices)
        : new Dim3(Dim3.Blocks(oc, TileCols), Dim3.Blocks(n, TileRows));

    /// <summary>The grid of an input gradient dinput (N,C) in a tensor-core precision (always the tile kernel).</summary>
    public Dim3 InputGradientGrid(int n, int c) => new(Dim3.Blocks(c, TileCols), Dim3.Blocks(n, TileRows));

    /// <summary>The grid of a weight gradient dweight (OC,C) over N rows in a tensor-core precision.</summary>
    public Dim3 WeightGradientGrid(long n, int c, int oc)
    {
        var split = WeightSplit(n, c, oc);
        return IsNarrow(oc)
            ? new Dim3(Dim3.Blocks(c, NarrowWeightCols), (uint)split.Slices)
            : new Dim3(Dim3.Blocks(c, TileCols), Dim3.Blocks(oc, TileRows), (uint)split.Slices);
    }

    /// <summary>The kernels that multiply on tensor cores (their names end in _3xtf32 or _tf32): their SASS must hold HMMA.</summary>
    public static bool IsTensorCoreKernel(string kernel) =>
        kernel.EndsWith("_3xtf32", StringComparison.Ordinal) || kernel.EndsWith("_tf32", StringComparison.Ordinal);

    /// <summary>The tile kernels, which take <see cref="SharedBytes"/> of dynamic shared memory (the others take none).</summary>
    public static bool IsTileKernel(string kernel) =>
        kernel.StartsWith("matmul_forward_", StringComparison.Ordinal) || kernel.StartsWith("matmul_backward_input_", StringComparison.Ordinal)
        || kernel.StartsWith("matmul_backward_weight_", StringComparison.Ordinal);

    /// <summary>Dynamic shared memory <paramref name="kernel"/> of <paramref name="source"/> is launched with (bytes; 0 for kernels without):
    /// the tile GEMMs' TC_SHARED_BYTES, the attention instances' <see cref="AttentionGeometry.SharedBytes(string)"/>.</summary>
    public static int DynamicSharedBytes(KernelSource source, string kernel)
    {
        if (IsTileKernel(kernel) && source.Defines.TryGetValue("TC_SHARED_BYTES", out int bytes)) return bytes;
        return AttentionGeometry.Parse(kernel) != null && source.Defines.ContainsKey("ATT_TILE_ROWS")
            ? AttentionGeometry.From(source).SharedBytes(kernel) ?? 0 : 0;
    }
}
