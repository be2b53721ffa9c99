using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Models;

/// <summary>
/// A model's activations for its current (B,T) batch shape: one device allocation sliced into typed views, made anew
/// when the shape changes (the old block is freed first).
/// </summary>
public sealed class ActivationBlock<TElement, TViews>(IDevice device) : IDisposable where TElement : unmanaged where TViews : class
{
    Buf<TElement> _block;

    /// <summary>The views of the last shape, or null before the first forward.</summary>
    public TViews? Views { get; private set; }
    public int B { get; private set; }
    public int T { get; private set; }

    /// <summary>
    /// The views for shape (b, t); <paramref name="declare"/> gives the block's layout and how its entries map onto
    /// the block (called only when the shape changes).
    /// </summary>
    public TViews Ensure(int b, int t, Func<(BufferLayout Layout, Func<Buf<TElement>, TViews> Views)> declare)
    {
        if (Views != null && B == b && T == t) return Views;
        Dispose();
        var (layout, views) = declare();
        _block = device.Allocate<TElement>(layout.Count);
        Views = views(_block);
        B = b;
        T = t;
        return Views;
    }

    public void Dispose()
    {
        if (!_block.IsEmpty) device.Free(_block);
        _block = default;
        Views = null;
    }
}
