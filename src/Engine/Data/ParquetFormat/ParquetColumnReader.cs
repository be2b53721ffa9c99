using System.Buffers.Binary;
using System.Text;

namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>
/// Reads one column chunk of strings (BYTE_ARRAY, required or optional, not repeated) page by page. Each page
/// header is checked before its page is read: the page lies within the data, decompresses to at most
/// <see cref="ParquetLimits.MaxExpansion"/> times its size and holds at most
/// <see cref="ParquetLimits.MaxValuesPerByte"/> values per byte, and the chunk's bytes and decoded characters are
/// charged to the file's <see cref="ParquetReadBudget"/>, so nothing allocated here outgrows the file.
/// </summary>
public sealed class ParquetColumnReader(IByteSource source, long dataEnd, ParquetCodec codec, int maxDefinitionLevel, ParquetReadBudget budget)
{
    // Headers are tens of bytes (more with statistics): start small and grow, so that many tiny pages cost little.
    const int FirstHeaderWindow = 256;

    List<string>? _dictionary;

    /// <summary>The chunk's values, null where a row has none.</summary>
    public List<string?> Read(ParquetColumnChunk chunk)
    {
        if (chunk.Start < 4 || chunk.Start >= dataEnd)
            throw new ParquetFormatException($"the column's first page offset {chunk.Start} lies outside the data (bytes 4..{dataEnd})");
        budget.CheckUnread(chunk.Start);
        var values = new List<string?>();
        long position = chunk.Start;
        while (values.Count < chunk.ValueCount)
        {
            if (position >= dataEnd)
                throw new ParquetFormatException($"the data ends after {values.Count} of the chunk's {chunk.ValueCount} values");
            var header = ReadHeader(position);
            long bodyStart = position + header.HeaderLength;
            if (header.CompressedSize > dataEnd - bodyStart)
                throw new ParquetFormatException($"the page at byte {position} claims {header.CompressedSize} bytes, past the end of the data (byte {dataEnd})");
            try
            {
                var body = source.Read(bodyStart, header.CompressedSize);
                ReadPage(header, body, values, chunk.ValueCount);
            }
            catch (ParquetFormatException e)
            {
                throw new ParquetFormatException($"page at byte {position}: {e.Message}");
            }
            position = bodyStart + header.CompressedSize;
        }
        budget.Claim(chunk.Start, position);
        return values;
    }

    ParquetPageHeader ReadHeader(long position)
    {
        long available = dataEnd - position;
        for (long window = Math.Min(FirstHeaderWindow, available); ; window = Math.Min(window * 4, available))
        {
            var bytes = source.Read(position, window);
            try
            {
                return ParquetPageHeader.Parse(bytes, 0, bytes.Length);
            }
            catch (ThriftEndOfDataException) when (window < available)
            {
                // The header is longer than this window; read more (never past the data).
            }
            catch (ParquetFormatException e)
            {
                throw new ParquetFormatException($"page header at byte {position}: {e.Message}");
            }
        }
    }

    void ReadPage(ParquetPageHeader header, byte[] body, List<string?> values, long expected)
    {
        switch ((ParquetPageType)header.Type)
        {
            case ParquetPageType.DictionaryPage:
                if (_dictionary != null || values.Count > 0) throw new ParquetFormatException("a dictionary page after the first page");
                if (header.Encoding is not ((int)ParquetEncoding.Plain or (int)ParquetEncoding.PlainDictionary))
                    throw new ParquetFormatException($"dictionary encoding {Name(header.Encoding)} is not supported (PLAIN expected)");
                // Each plain string takes 4 bytes of length at least.
                if (header.ValueCount > header.UncompressedSize / 4)
                    throw new ParquetFormatException($"dictionary page claims {header.ValueCount} strings in {header.UncompressedSize} bytes");
                var plain = ParquetDecompressor.Decompress(codec, body, header.UncompressedSize);
                _dictionary = [];
                DecodePlain(plain, header.ValueCount, _dictionary);
                break;
            case ParquetPageType.DataPage:
                CheckValueCount(header, values.Count, expected);
                var page = ParquetDecompressor.Decompress(codec, body, header.UncompressedSize);
                var levels = new int[maxDefinitionLevel > 0 ? header.ValueCount : 0];
                int offset = 0;
                if (maxDefinitionLevel > 0)
                {
                    if (header.DefinitionLevelEncoding != (int)ParquetEncoding.Rle)
                        throw new ParquetFormatException($"definition level encoding {Name(header.DefinitionLevelEncoding)} is not supported (RLE expected)");
                    offset = RleBitPackedDecoder.DecodeWithLength(page, 1, levels, maxDefinitionLevel + 1, "definition levels");
                }
                Append(values, levels, header, page.AsSpan(offset));
                break;
            case ParquetPageType.DataPageV2:
                CheckValueCount(header, values.Count, expected);
                ReadPageV2(header, body, values);
                break;
            case ParquetPageType.IndexPage:
                break;
            default:
                throw new ParquetFormatException($"unknown page type {header.Type}");
        }
    }

    static void CheckValueCount(ParquetPageHeader header, int read, long expected)
    {
        if (header.ValueCount == 0) throw new ParquetFormatException("a data page with no values");
        if (header.ValueCount > expected - read)
            throw new ParquetFormatException($"the page holds {header.ValueCount} values, more than the {expected - read} the chunk has left");
        long bytes = Math.Min(header.UncompressedSize, header.CompressedSize);
        if (header.ValueCount > ParquetLimits.MaxValuesPerByte * bytes)
            throw new ParquetFormatException($"the page claims {header.ValueCount} values in {bytes} bytes, more than " +
                                             $"{ParquetLimits.MaxValuesPerByte} a byte (run-length encoding or compression that dense is refused)");
    }

    void ReadPageV2(ParquetPageHeader header, byte[] body, List<string?> values)
    {
        if (header.RepetitionLevelsLength != 0) throw new ParquetFormatException("repetition levels in a column that is not repeated");
        int levelBytes = header.DefinitionLevelsLength;
        if (levelBytes > body.Length || levelBytes > header.UncompressedSize)
            throw new ParquetFormatException($"definition levels of {levelBytes} bytes do not fit the page");
        var compressed = body.AsSpan(levelBytes);
        int size = header.UncompressedSize - levelBytes;
        byte[] data = header.IsCompressed ? ParquetDecompressor.Decompress(codec, compressed, size)
            : size == compressed.Length ? compressed.ToArray()
            : throw new ParquetFormatException($"uncompressed page gives two sizes, {compressed.Length} and {size}");
        var levels = new int[maxDefinitionLevel > 0 ? header.ValueCount : 0];
        if (maxDefinitionLevel > 0)
            RleBitPackedDecoder.Decode(body.AsSpan(0, levelBytes), 1, levels, maxDefinitionLevel + 1, "definition levels");
        Append(values, levels, header, data);
    }

    void Append(List<string?> values, int[] levels, ParquetPageHeader header, ReadOnlySpan<byte> data)
    {
        int present = header.ValueCount;
        if (maxDefinitionLevel > 0) present = levels.Count(l => l == maxDefinitionLevel);
        var decoded = new List<string>(present);
        switch ((ParquetEncoding)header.Encoding)
        {
            case ParquetEncoding.Plain:
                DecodePlain(data, present, decoded);
                break;
            case ParquetEncoding.PlainDictionary or ParquetEncoding.RleDictionary:
                DecodeDictionary(data, present, decoded);
                break;
            default:
                throw new ParquetFormatException($"value encoding {Name(header.Encoding)} is not supported (PLAIN or dictionary expected)");
        }
        budget.ChargeDecoded(decoded.Sum(v => (long)v.Length));
        if (maxDefinitionLevel == 0)
        {
            values.AddRange(decoded);
            return;
        }
        int next = 0;
        foreach (int level in levels) values.Add(level == maxDefinitionLevel ? decoded[next++] : null);
    }

    static void DecodePlain(ReadOnlySpan<byte> data, int count, List<string> output)
    {
        int position = 0;
        for (int i = 0; i < count; i++)
        {
            if (data.Length - position < 4) throw new ParquetFormatException($"plain values end after {i} of {count}");
            uint length = BinaryPrimitives.ReadUInt32LittleEndian(data[position..]);
            position += 4;
            if (length > (uint)(data.Length - position)) throw new ParquetFormatException($"value {i + 1} claims {length} bytes, only {data.Length - position} remain");
            output.Add(Encoding.UTF8.GetString(data.Slice(position, (int)length)));
            position += (int)length;
        }
    }

    void DecodeDictionary(ReadOnlySpan<byte> data, int count, List<string> output)
    {
        if (count == 0) return;
        if (_dictionary == null) throw new ParquetFormatException("dictionary-encoded values without a dictionary page");
        if (data.IsEmpty) throw new ParquetFormatException("dictionary indices are missing");
        var indices = new int[count];
        int bitWidth = data[0];
        if (bitWidth == 0 && data.Length == 1) Array.Clear(indices); // every index 0, with no runs written (as some writers do)
        else RleBitPackedDecoder.Decode(data[1..], bitWidth, indices, _dictionary.Count, "dictionary indices");
        if (_dictionary.Count == 0) throw new ParquetFormatException("dictionary indices into an empty dictionary");
        foreach (int index in indices) output.Add(_dictionary[index]);
    }

    static string Name(int encoding) => Enum.IsDefined((ParquetEncoding)encoding) ? ((ParquetEncoding)encoding).ToString() : encoding.ToString();
}
