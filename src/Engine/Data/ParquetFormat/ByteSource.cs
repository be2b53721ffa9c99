using Microsoft.Win32.SafeHandles;

namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>Random access to the bytes of a Parquet file: a file on disk or a stream buffered in memory.</summary>
public interface IByteSource
{
    long Length { get; }

    /// <summary>Fills <paramref name="destination"/> from <paramref name="offset"/>; the caller keeps it within <see cref="Length"/>.</summary>
    void Read(long offset, Span<byte> destination);
}

public static class ByteSources
{
    /// <summary>Reads <paramref name="count"/> bytes at <paramref name="offset"/>, after checking they lie within the source.</summary>
    public static byte[] Read(this IByteSource source, long offset, long count)
    {
        if (offset < 0 || count < 0 || offset > source.Length - count)
            throw new ParquetFormatException($"bytes {offset}..{offset + count} lie outside the file ({source.Length} bytes)");
        var bytes = new byte[count];
        source.Read(offset, bytes);
        return bytes;
    }
}

/// <summary>A file read in place: its length is taken once, and a read that comes up short (the file shrank) is an error.</summary>
public sealed class FileByteSource(SafeFileHandle handle) : IByteSource
{
    public long Length { get; } = RandomAccess.GetLength(handle);

    public void Read(long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(handle, destination, offset);
            if (read <= 0) throw new ParquetFormatException($"the file ended at byte {offset}, before its stated length {Length} (changed while being read?)");
            destination = destination[read..];
            offset += read;
        }
    }
}

public sealed class MemoryByteSource(byte[] bytes, int length) : IByteSource
{
    public long Length => length;

    public void Read(long offset, Span<byte> destination) => bytes.AsSpan((int)offset, destination.Length).CopyTo(destination);
}
