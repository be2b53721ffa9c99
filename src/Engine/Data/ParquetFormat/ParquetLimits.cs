namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>
/// The bounds that tie everything the Parquet reader allocates to the size of the file. Lengths and offsets
/// must lie within the file; these bound what a page may expand to.
/// </summary>
public static class ParquetLimits
{
    /// <summary>
    /// Values a page may hold per byte it takes, compressed or not: 8 is one bit a value, the densest bit-packing.
    /// Only run-length encoding or compression of repeated values gets denser; such pages are refused, so that a
    /// small file cannot claim billions of rows.
    /// </summary>
    public const int MaxValuesPerByte = 8;

    /// <summary>
    /// Characters all the values of a file may decode to per byte of the file (dictionary entries count each time
    /// they are used): deflate's own limit. Real flip-flop data compresses some 5 to 20 times.
    /// </summary>
    public const int MaxDecodedPerByte = 1032;

    /// <summary>
    /// How much larger than its compressed bytes a page may be once decompressed: the most each codec's format
    /// can expand (snappy about 21x, LZ4 about 255x, deflate 1032x); zstd and brotli, whose formats allow
    /// more, are held to deflate's limit.
    /// </summary>
    public static long MaxExpansion(ParquetCodec codec) => codec switch
    {
        ParquetCodec.Uncompressed => 1,
        ParquetCodec.Snappy => 22,
        ParquetCodec.Lz4Raw => 256,
        _ => 1032,
    };

    /// <summary>Parquet read from a pipe is buffered in memory (its footer is at the end) up to this size.</summary>
    public const long MaxBufferedBytes = 1L << 30;
}
