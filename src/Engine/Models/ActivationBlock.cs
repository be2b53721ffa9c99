using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Models;

/// <summary>
/// A model's activations for its current (B,T) batch shape: one device allocation sliced into typed views. A new shape
/// reuses the allocation when it fits (the old block is freed first when it does not), so that training steps after an
/// online evaluation on a larger batch allocate nothing and a captured step graph only has its pointers rewritten.
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
        var (layout, views) = declare();
        if (layout.Count > _block.Length)
        {
            Dispose();
            _block = device.Allocate<TElement>(layout.Count);
        }
        Views = views(_block.Slice(0, layout.Count));
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
