namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>Page types (the format's PageType enum).</summary>
public enum ParquetPageType { DataPage = 0, IndexPage = 1, DictionaryPage = 2, DataPageV2 = 3 }

/// <summary>Value and level encodings (the format's Encoding enum).</summary>
public enum ParquetEncoding
{
    Plain = 0, PlainDictionary = 2, Rle = 3, BitPacked = 4, DeltaBinaryPacked = 5, DeltaLengthByteArray = 6, DeltaByteArray = 7,
    RleDictionary = 8, ByteStreamSplit = 9,
}

/// <summary>
/// A page header: sizes of the page, its value count and encodings. For version 2 data pages the level bytes
/// (never compressed) come first; <see cref="IsCompressed"/> says whether the rest is.
/// </summary>
public sealed record ParquetPageHeader(
    int Type, int UncompressedSize, int CompressedSize, int ValueCount, int Encoding, int DefinitionLevelEncoding,
    int DefinitionLevelsLength, int RepetitionLevelsLength, bool IsCompressed, int HeaderLength)
{
    /// <summary>Parses one header starting at <paramref name="start"/>; fields as in the public parquet.thrift.</summary>
    public static ParquetPageHeader Parse(byte[] bytes, int start, int end)
    {
        var r = new ThriftCompactReader(bytes, start, end);
        int? type = null, uncompressed = null, compressed = null;
        (int Values, int Encoding, int DefinitionEncoding, int DefinitionLength, int RepetitionLength, bool Compressed)? body = null;
        r.BeginStruct();
        while (r.NextField(out short id, out var fieldType))
        {
            switch (id)
            {
                case 1: type = r.ReadI32(fieldType, "page type"); break;
                case 2: uncompressed = r.ReadI32(fieldType, "uncompressed_page_size"); break;
                case 3: compressed = r.ReadI32(fieldType, "compressed_page_size"); break;
                case 5: body = DataPage(r, fieldType); break;
                case 7: body = DictionaryPage(r, fieldType); break;
                case 8: body = DataPageV2(r, fieldType); break;
                default: r.Skip(fieldType); break;
            }
        }
        r.EndStruct();
        if (type == null || uncompressed == null || compressed == null)
            throw new ParquetFormatException("page header lacks its type or sizes");
        if (uncompressed < 0 || compressed < 0)
            throw new ParquetFormatException($"page header gives negative sizes (compressed {compressed}, uncompressed {uncompressed})");
        var b = body ?? (0, 0, 0, 0, 0, false);
        return new ParquetPageHeader(type.Value, uncompressed.Value, compressed.Value, b.Values, b.Encoding, b.DefinitionEncoding,
            b.DefinitionLength, b.RepetitionLength, b.Compressed, r.Position - start);
    }

    static void ExpectStruct(ThriftType type, string what)
    {
        if (type != ThriftType.Struct) throw new ParquetFormatException($"{what} is encoded as Thrift {type}, expected Struct");
    }

    static (int, int, int, int, int, bool) DataPage(ThriftCompactReader r, ThriftType structType)
    {
        ExpectStruct(structType, "data_page_header");
        int values = -1, encoding = -1, definitionEncoding = (int)ParquetEncoding.Rle;
        r.BeginStruct();
        while (r.NextField(out short id, out var type))
        {
            switch (id)
            {
                case 1: values = r.ReadI32(type, "data page num_values"); break;
                case 2: encoding = r.ReadI32(type, "data page encoding"); break;
                case 3: definitionEncoding = r.ReadI32(type, "data page definition_level_encoding"); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        if (values < 0 || encoding < 0) throw new ParquetFormatException($"data page header gives {values} values in encoding {encoding}");
        return (values, encoding, definitionEncoding, 0, 0, true);
    }

    static (int, int, int, int, int, bool) DictionaryPage(ThriftCompactReader r, ThriftType structType)
    {
        ExpectStruct(structType, "dictionary_page_header");
        int values = -1, encoding = -1;
        r.BeginStruct();
        while (r.NextField(out short id, out var type))
        {
            switch (id)
            {
                case 1: values = r.ReadI32(type, "dictionary page num_values"); break;
                case 2: encoding = r.ReadI32(type, "dictionary page encoding"); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        if (values < 0 || encoding < 0) throw new ParquetFormatException($"dictionary page header gives {values} values in encoding {encoding}");
        return (values, encoding, 0, 0, 0, true);
    }

    static (int, int, int, int, int, bool) DataPageV2(ThriftCompactReader r, ThriftType structType)
    {
        ExpectStruct(structType, "data_page_header_v2");
        int values = -1, encoding = -1, definitionLength = -1, repetitionLength = -1;
        bool compressed = true;
        r.BeginStruct();
        while (r.NextField(out short id, out var type))
        {
            switch (id)
            {
                case 1: values = r.ReadI32(type, "data page v2 num_values"); break;
                case 4: encoding = r.ReadI32(type, "data page v2 encoding"); break;
                case 5: definitionLength = r.ReadI32(type, "definition_levels_byte_length"); break;
                case 6: repetitionLength = r.ReadI32(type, "repetition_levels_byte_length"); break;
                case 7: compressed = r.ReadBool(type, "is_compressed"); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        if (values < 0 || encoding < 0 || definitionLength < 0 || repetitionLength < 0)
            throw new ParquetFormatException($"data page v2 header gives {values} values, encoding {encoding}, level lengths {definitionLength} and {repetitionLength}");
        return (values, encoding, (int)ParquetEncoding.Rle, definitionLength, repetitionLength, compressed);
    }
}
