using System.IO.Compression;
using K4os.Compression.LZ4;

namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>
/// Decompresses a page into exactly the size its header gives, never more: that size has been checked against
/// <see cref="ParquetLimits.MaxExpansion"/> before this allocates it, and a page that decompresses to any other
/// size is refused.
/// </summary>
public static class ParquetDecompressor
{
    public static bool IsSupported(ParquetCodec codec) =>
        codec is ParquetCodec.Uncompressed or ParquetCodec.Snappy or ParquetCodec.Gzip or ParquetCodec.Brotli or ParquetCodec.Zstd
            or ParquetCodec.Lz4Raw;

    public static byte[] Decompress(ParquetCodec codec, ReadOnlySpan<byte> compressed, int size)
    {
        if ((long)size > compressed.Length * ParquetLimits.MaxExpansion(codec))
            throw new ParquetFormatException($"page claims to expand from {compressed.Length} to {size} bytes, more than {codec} can");
        if (codec == ParquetCodec.Uncompressed)
        {
            if (size != compressed.Length) throw new ParquetFormatException($"uncompressed page gives two sizes, {compressed.Length} and {size}");
            return compressed.ToArray();
        }
        var output = new byte[size];
        int written;
        try
        {
            written = codec switch
            {
                ParquetCodec.Snappy => Snappy(compressed, output),
                ParquetCodec.Gzip => Gzip(compressed, output),
                ParquetCodec.Brotli => BrotliDecoder.TryDecompress(compressed, output, out int n) ? n : -1,
                ParquetCodec.Zstd => Zstd(compressed, output),
                ParquetCodec.Lz4Raw => LZ4Codec.Decode(compressed, output),
                _ => throw new ParquetFormatException($"compression codec {codec} is not supported"),
            };
        }
        catch (Exception e) when (e is InvalidDataException or ZstdSharp.ZstdException or ArgumentException or IndexOutOfRangeException)
        {
            throw new ParquetFormatException($"{codec} data is corrupt ({e.Message})");
        }
        if (written != size) throw new ParquetFormatException($"{codec} data does not decompress to the {size} bytes its page header gives");
        return output;
    }

    static int Snappy(ReadOnlySpan<byte> compressed, byte[] output)
    {
        // The stream names its own length first; the output buffer is sized by the page header, so they must agree.
        int length = Snappier.Snappy.GetUncompressedLength(compressed);
        if (length != output.Length) return -1;
        return Snappier.Snappy.Decompress(compressed, output);
    }

    static int Gzip(ReadOnlySpan<byte> compressed, byte[] output)
    {
        using var gzip = new GZipStream(new MemoryStream(compressed.ToArray()), CompressionMode.Decompress);
        int total = 0, read;
        while (total < output.Length && (read = gzip.Read(output, total, output.Length - total)) > 0) total += read;
        return total == output.Length && gzip.ReadByte() < 0 ? total : -1;
    }

    static int Zstd(ReadOnlySpan<byte> compressed, byte[] output)
    {
        using var zstd = new ZstdSharp.Decompressor();
        return zstd.TryUnwrap(compressed, output, out int written) ? written : -1;
    }
}
