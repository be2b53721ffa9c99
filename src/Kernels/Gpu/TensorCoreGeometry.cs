using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// How the tensor-core matmuls of kernels.cu cut their work, from its #defines: the 64 x 64 tile kernels
/// (TC_BM x TC_BN blocks, TC_BK-deep k slices, TC_SHARED_BYTES of dynamic shared memory) and the narrow kernels
/// for fewer than NARROW_COLS output columns (the head). The launchers (GpuOps.MatmulPrecision.cs) and the CPU twins
/// (Cpu/TensorCoreTwin.cs) both follow it, so the twins add in the kernels' order.
/// </summary>
public sealed record TensorCoreGeometry(int TileRows, int TileCols, int SliceDepth, int SharedBytes, int NarrowCols, int NarrowRows,
    int NarrowWarps, int NarrowWeightCols)
{
    /// <summary>The k step of one mma.m16n8k8: the narrow weight gradient's slices are whole steps.</summary>
    public const int MmaDepth = 8;

    /// <summary>The fewest k steps (TC_BK slices, or mma steps for the narrow kernel) a split-K slice gets.</summary>
    public const int MinSliceGranules = 8;

    public static TensorCoreGeometry From(KernelSource source) => new(source.Define("TC_BM"), source.Define("TC_BN"), source.Define("TC_BK"),
        source.Define("TC_SHARED_BYTES"), source.Define("NARROW_COLS"), source.Define("NARROW_ROWS"),
        source.Define("NARROW_THREADS") / source.Define("WARP_SIZE"), source.Define("NARROW_WEIGHT_COLS"));

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
        ? KSplit.For(n, MmaDepth, MinSliceGranules, Dim3.Blocks(c, NarrowWeightCols))
        : KSplit.For(n, SliceDepth, MinSliceGranules, (long)Dim3.Blocks(c, TileCols) * Dim3.Blocks(oc, TileRows));

    /// <summary>The kernels that multiply on tensor cores (their names end in _3xtf32 or _tf32): their SASS must hold HMMA.</summary>
    public static bool IsTensorCoreKernel(string kernel) =>
        kernel.EndsWith("_3xtf32", StringComparison.Ordinal) || kernel.EndsWith("_tf32", StringComparison.Ordinal);

    /// <summary>The tile kernels, which take <see cref="SharedBytes"/> of dynamic shared memory (the others take none).</summary>
    public static bool IsTileKernel(string kernel) =>
        kernel.StartsWith("matmul_forward_", StringComparison.Ordinal) || kernel.StartsWith("matmul_backward_input_", StringComparison.Ordinal)
        || kernel.StartsWith("matmul_backward_weight_", StringComparison.Ordinal);

    /// <summary>Dynamic shared memory <paramref name="kernel"/> of <paramref name="source"/> is launched with (bytes; 0 for kernels without).</summary>
    public static int DynamicSharedBytes(KernelSource source, string kernel) =>
        IsTileKernel(kernel) && source.Defines.TryGetValue("TC_SHARED_BYTES", out int bytes) ? bytes : 0;
}
