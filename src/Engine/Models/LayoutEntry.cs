using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Models;

/// <summary>A named block of a flat buffer: its shape, where it starts and how many elements it holds.</summary>
public sealed record LayoutEntry(string Name, long[] Shape, long Offset, long Count)
{
    public long End => Offset + Count;

    /// <summary>
    /// Entries that lie one after another, seen as one tensor stacked along the first axis (the (3C,C) QKV
    /// weight made of wq, wk, wv). Throws when they are not adjacent or differ beyond the first axis.
    /// </summary>
    public static LayoutEntry Stack(string name, params ReadOnlySpan<LayoutEntry> parts)
    {
        if (parts.IsEmpty) throw new ArgumentException($"{name}: nothing to stack", nameof(parts));
        var first = parts[0];
        long rows = 0;
        for (int i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            if (part.Shape.Length == 0 || !part.Shape.AsSpan(1).SequenceEqual(first.Shape.AsSpan(1)))
                throw new ArgumentException($"{name}: {part.Name} has shape ({string.Join(",", part.Shape)}), not (rows,{string.Join(",", first.Shape[1..])})");
            if (i > 0 && part.Offset != parts[i - 1].End)
                throw new ArgumentException($"{name}: {part.Name} does not start where {parts[i - 1].Name} ends");
            rows += part.Shape[0];
        }
        return new LayoutEntry(name, [rows, .. first.Shape[1..]], first.Offset, parts[^1].End - first.Offset);
    }
}

public static class LayoutEntrySlicing
{
    /// <summary>The view of an entry in a buffer laid out by the entry's layout.</summary>
    public static Buf<T> Slice<T>(this Buf<T> buffer, LayoutEntry entry) where T : unmanaged => buffer.Slice(entry.Offset, entry.Count);
}
