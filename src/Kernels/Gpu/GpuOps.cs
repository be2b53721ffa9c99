using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// The ops of <see cref="IOps{T}"/> as kernel launches over an <see cref="IKernelDevice"/> (the GPU or the
/// emulator), with exactly the interface's semantics; the CPU twins in <see cref="Cpu.CpuOps{T}"/> are their
/// reference. Block sizes come from the kernels' __launch_bounds__ and tile sizes from kernels.cu's #defines, so
/// the launch geometry has one source. One file per op family, named like the CPU twins' files (GpuOps.LayerNorm.cs
/// holds the launchers whose twins are in CpuOps.LayerNorm.cs, and so on); this file holds the shared launch
/// helpers, size checks, the scratch buffer and the utility ops.
/// </summary>
public sealed partial class GpuOps : IOps<float>, IDisposable
{
    /// <summary>
    /// Most blocks a grid-stride kernel is launched with: 8192 blocks of 256 threads are 2M threads, several times
    /// what an H100 keeps resident (132 SMs x 2048 threads); more blocks would only add scheduling work.
    /// </summary>
    const int MaxGridStrideBlocks = 8192;

    /// <summary>CUDA's warp width (kernels.cu's WARP_SIZE): the unit of the one-warp-per-item kernels.</summary>
    const int WarpSize = 32;

    readonly KernelSource _source;
    readonly int _gemmRows, _gemmCols, _lnBackwardRows;
    Buf<float> _scratch, _partials;

    public GpuOps(IKernelDevice device, KernelSource? source = null)
    {
        Device = device;
        _source = source ?? KernelSource.Default;
        _gemmRows = _source.Define("GEMM_BM");
        _gemmCols = _source.Define("GEMM_BN");
        _lnBackwardRows = _source.Define("LN_BWD_ROWS");
    }

    public IKernelDevice Device { get; }

    IDevice IOps<float>.Device => Device;

    // ---- launch helpers ----

    int Threads(string kernel) => _source.BlockThreads(kernel);

    /// <summary>Blocks of a grid-stride kernel over <paramref name="n"/> items: one item per thread, at most <see cref="MaxGridStrideBlocks"/>.</summary>
    uint GridStride(long n, string kernel) => (uint)Math.Min(Dim3.Blocks(n, Threads(kernel)), MaxGridStrideBlocks);

    void Launch1D(string kernel, long n, params ReadOnlySpan<KernelArg> args)
    {
        if (n <= 0) return;
        Device.Launch(kernel, GridStride(n, kernel), Threads(kernel), 0, args);
    }

    /// <summary>Blocks of the kernel's size covering <paramref name="warps"/> warps (one warp per item).</summary>
    uint WarpBlocks(long warps, string kernel) => Dim3.Blocks(warps * WarpSize, Threads(kernel));

    static void CheckSize<TElement>(Buf<TElement> buffer, long needed, string name) where TElement : unmanaged
    {
        if (buffer.Length < needed) throw new ArgumentException($"{name} has {buffer.Length} elements, the op needs {needed}");
    }

    /// <summary>A scratch buffer of at least <paramref name="count"/> floats (reused; grows).</summary>
    Buf<float> Scratch(long count) => Grow(ref _scratch, count);

    /// <summary>
    /// Split-K partial sums of at least <paramref name="count"/> floats: a second scratch buffer, because an op may
    /// hold <see cref="Scratch"/> while it takes a weight gradient (the LSTM backward).
    /// </summary>
    Buf<float> Partials(long count) => Grow(ref _partials, count);

    Buf<float> Grow(ref Buf<float> buffer, long count)
    {
        if (buffer.Length < count)
        {
            long size = Math.Max(count, 2 * buffer.Length);
            if (!buffer.IsEmpty) Device.Free(buffer);
            buffer = default;
            buffer = Device.Allocate<float>(size);
        }
        return buffer.Slice(0, count);
    }

    // ---- utility ----

    /// <summary>x[i] = value.</summary>
    public void Fill(Buf<float> x, float value) => Launch1D("fill_value", x.Length, x, x.Length, value);

    /// <summary>output (1) = sum of input (n), fixed order (one block).</summary>
    public void SumForward(Buf<float> output, Buf<float> input, long n) =>
        Device.Launch("sum_forward", 1, Threads("sum_forward"), 0, output, input, n);

    /// <summary>diverged (1) = 1 when loss (1) is not finite; it stays 1 once set.</summary>
    public void LossGuard(Buf<int> diverged, Buf<float> loss)
    {
        CheckSize(diverged, 1, "diverged"); CheckSize(loss, 1, "loss");
        Device.Launch("loss_guard", 1, Threads("loss_guard"), 0, diverged, loss);
    }

    public void Dispose()
    {
        if (!_scratch.IsEmpty) Device.Free(_scratch);
        if (!_partials.IsEmpty) Device.Free(_partials);
        _scratch = _partials = default;
        FreeAlibiSlopes();
        FreeRopeTables();
        FreeGridBarrier();
    }
}
