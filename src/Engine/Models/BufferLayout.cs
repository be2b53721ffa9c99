namespace RawFlipFlop.Engine.Models;

/// <summary>
/// The named blocks of one flat buffer, declared in order: each starts where the one before it ends, so the
/// offsets and the total follow from the shapes alone. Sizes use checked arithmetic: a layout whose element
/// count does not fit a long is refused rather than wrapped.
/// </summary>
public sealed class BufferLayout
{
    readonly List<LayoutEntry> _entries = [];
    readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public IReadOnlyList<LayoutEntry> Entries => _entries;

    /// <summary>Elements in all entries: the size of the buffer the layout describes.</summary>
    public long Count { get; private set; }

    /// <summary>Appends a block of the shape; a name may be declared once.</summary>
    public LayoutEntry Add(string name, params ReadOnlySpan<long> shape)
    {
        if (_names.Contains(name)) throw new ArgumentException($"{name} is declared twice", nameof(name));
        long count = 1, end;
        try
        {
            foreach (long size in shape)
            {
                if (size < 0) throw new ArgumentOutOfRangeException(nameof(shape), $"{name} has a negative size {size}");
                count = checked(count * size);
            }
            end = checked(Count + count);
        }
        catch (OverflowException e)
        {
            throw new OverflowException($"{name} of shape ({string.Join(",", shape.ToArray())}) does not fit after {Count} elements", e);
        }
        var entry = new LayoutEntry(name, shape.ToArray(), Count, count);
        _names.Add(name);
        _entries.Add(entry);
        Count = end;
        return entry;
    }

    /// <summary>One block of the shape per layer, named layers.{l}.{name}, declared one after another.</summary>
    public LayoutEntry[] AddPerLayer(int layers, string name, params ReadOnlySpan<long> shape)
    {
        var entries = new LayoutEntry[layers];
        for (int l = 0; l < layers; l++) entries[l] = Add($"layers.{l}.{name}", shape);
        return entries;
    }
}
