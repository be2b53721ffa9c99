namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>
/// What reading one Parquet file may cost in all: each byte of its pages is read once (column chunks must not
/// overlap, so metadata cannot make the same pages count again and again), and the values decode to at most
/// <see cref="ParquetLimits.MaxDecodedPerByte"/> characters per byte of the file. With these, the data a file
/// yields grows at most linearly with its size, whatever its dictionaries and codecs do.
/// </summary>
public sealed class ParquetReadBudget(long fileLength)
{
    readonly SortedSet<(long Start, long End)> _claimed = [];
    long _decoded;

    public long DecodedLimit { get; } = fileLength * ParquetLimits.MaxDecodedPerByte;

    /// <summary>Refuses a chunk that starts inside bytes already read.</summary>
    public void CheckUnread(long start)
    {
        if (Before(start) is { } range && range.End > start)
            throw new ParquetFormatException($"the column chunk at byte {start} lies inside one already read (bytes {range.Start}..{range.End})");
    }

    /// <summary>Records bytes [start, end) as read; refuses them if another chunk read them already.</summary>
    public void Claim(long start, long end)
    {
        if (end <= start) return;
        var overlapping = _claimed.GetViewBetween((start, long.MinValue), (end - 1, long.MaxValue));
        if (overlapping.Count > 0 || (Before(start) is { } range && range.End > start))
            throw new ParquetFormatException($"the column chunk at bytes {start}..{end} overlaps one already read");
        _claimed.Add((start, end));
    }

    (long Start, long End)? Before(long position)
    {
        var view = _claimed.GetViewBetween((long.MinValue, long.MinValue), (position, long.MaxValue));
        return view.Count > 0 ? view.Max : null;
    }

    /// <summary>Counts characters decoded; refuses the file once they pass <see cref="DecodedLimit"/>.</summary>
    public void ChargeDecoded(long characters)
    {
        _decoded += characters;
        if (_decoded > DecodedLimit)
            throw new ParquetFormatException($"the file decodes to more than {DecodedLimit} characters, {ParquetLimits.MaxDecodedPerByte} per byte of the file: " +
                                             "refused as a decompression bomb");
    }
}
