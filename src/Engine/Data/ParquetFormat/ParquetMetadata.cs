using RawFlipFlop.Engine.IO;

namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>Physical types of Parquet columns (the format's Type enum).</summary>
public enum ParquetPhysicalType { Boolean = 0, Int32 = 1, Int64 = 2, Int96 = 3, Float = 4, Double = 5, ByteArray = 6, FixedLenByteArray = 7 }

/// <summary>Compression codecs of column chunks (the format's CompressionCodec enum).</summary>
public enum ParquetCodec { Uncompressed = 0, Snappy = 1, Gzip = 2, Lzo = 3, Brotli = 4, Lz4 = 5, Zstd = 6, Lz4Raw = 7 }

/// <summary>One element of the flattened schema tree: a group when it has children, else a column.</summary>
public sealed record ParquetSchemaElement(string Name, int? Type, int? Repetition, int ChildCount);

/// <summary>What a column chunk's metadata says about where its pages are and what they hold.</summary>
public sealed record ParquetColumnChunk(
    IReadOnlyList<string> Path, int Type, int Codec, long ValueCount, long DataPageOffset, long? DictionaryPageOffset,
    bool External, bool Encrypted)
{
    /// <summary>The first page: the dictionary page when there is one (offset 0 means none, as some writers put it).</summary>
    public long Start => DictionaryPageOffset is > 0 and var d && d < DataPageOffset ? d : DataPageOffset;
}

/// <summary>A row group: its row count and its column chunks, in schema order (null where a chunk has no
/// readable metadata: encrypted or corrupt).</summary>
public sealed record ParquetRowGroup(long RowCount, IReadOnlyList<ParquetColumnChunk?> Columns);

/// <summary>The parts of a Parquet footer (FileMetaData) that reading string columns needs.</summary>
public sealed record ParquetMetadata(IReadOnlyList<ParquetSchemaElement> Schema, IReadOnlyList<ParquetRowGroup> RowGroups, bool Encrypted)
{
    /// <summary>Parses a footer; field ids and types are those of the public parquet.thrift.</summary>
    public static ParquetMetadata Parse(byte[] footer)
    {
        var r = new ThriftCompactReader(footer);
        var schema = new List<ParquetSchemaElement>();
        var groups = new List<ParquetRowGroup>();
        bool encrypted = false, sawSchema = false;
        r.BeginStruct();
        while (r.NextField(out short id, out var type))
        {
            switch (id)
            {
                case 2:
                    sawSchema = true;
                    for (int n = r.ReadListHeader(type, ThriftType.Struct, "schema"); n > 0; n--) schema.Add(SchemaElement(r));
                    break;
                case 4:
                    for (int n = r.ReadListHeader(type, ThriftType.Struct, "row_groups"); n > 0; n--) groups.Add(RowGroup(r));
                    break;
                case 8: encrypted = true; r.Skip(type); break; // encryption_algorithm: encrypted columns
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        if (!sawSchema || schema.Count == 0) throw new ParquetFormatException("the footer has no schema");
        return new ParquetMetadata(schema, groups, encrypted);
    }

    static ParquetSchemaElement SchemaElement(ThriftCompactReader r)
    {
        string? name = null;
        int? physical = null, repetition = null;
        int children = 0;
        r.BeginStruct();
        while (r.NextField(out short id, out var type))
        {
            switch (id)
            {
                case 1: physical = r.ReadI32(type, "schema element type"); break;
                case 3: repetition = r.ReadI32(type, "schema element repetition_type"); break;
                case 4: name = r.ReadString(type, "schema element name"); break;
                case 5: children = r.ReadI32(type, "schema element num_children"); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        if (children < 0) throw new ParquetFormatException($"schema element '{Printable.Of(name ?? "")}' has {children} children");
        return new ParquetSchemaElement(name ?? throw new ParquetFormatException("a schema element has no name"), physical, repetition, children);
    }

    static ParquetRowGroup RowGroup(ThriftCompactReader r)
    {
        var columns = new List<ParquetColumnChunk?>();
        long? rows = null;
        r.BeginStruct();
        while (r.NextField(out short id, out var type))
        {
            switch (id)
            {
                case 1:
                    for (int n = r.ReadListHeader(type, ThriftType.Struct, "row group columns"); n > 0; n--) columns.Add(ColumnChunk(r));
                    break;
                case 3: rows = r.ReadI64(type, "row group num_rows"); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        if (rows is not >= 0) throw new ParquetFormatException(rows == null ? "a row group has no num_rows" : $"a row group has {rows} rows");
        return new ParquetRowGroup(rows.Value, columns);
    }

    static ParquetColumnChunk? ColumnChunk(ThriftCompactReader r)
    {
        ParquetColumnChunk? chunk = null;
        bool external = false, encrypted = false;
        r.BeginStruct();
        while (r.NextField(out short id, out var type))
        {
            switch (id)
            {
                case 1: external = r.ReadBinary(type, "column chunk file_path").Length > 0; break;
                case 3: chunk = ColumnMetaData(r, type); break;
                case 8 or 9: encrypted = true; r.Skip(type); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        return chunk == null ? null : chunk with { External = external, Encrypted = encrypted };
    }

    static ParquetColumnChunk ColumnMetaData(ThriftCompactReader r, ThriftType structType)
    {
        if (structType != ThriftType.Struct) throw new ParquetFormatException($"column chunk meta_data is encoded as Thrift {structType}, expected Struct");
        var path = new List<string>();
        int? physical = null, codec = null;
        long? values = null, dataOffset = null;
        long? dictionaryOffset = null;
        r.BeginStruct();
        while (r.NextField(out short id, out var type))
        {
            switch (id)
            {
                case 1: physical = r.ReadI32(type, "column type"); break;
                case 3:
                    for (int n = r.ReadListHeader(type, ThriftType.Binary, "path_in_schema"); n > 0; n--)
                        path.Add(r.ReadString(ThriftType.Binary, "path_in_schema element"));
                    break;
                case 4: codec = r.ReadI32(type, "column codec"); break;
                case 5: values = r.ReadI64(type, "column num_values"); break;
                case 9: dataOffset = r.ReadI64(type, "column data_page_offset"); break;
                case 11: dictionaryOffset = r.ReadI64(type, "column dictionary_page_offset"); break;
                default: r.Skip(type); break;
            }
        }
        r.EndStruct();
        string name = Printable.Of(string.Join(".", path));
        if (physical == null || codec == null || values == null || dataOffset == null)
            throw new ParquetFormatException($"the metadata of column chunk '{name}' lacks a required field (type, codec, num_values or data_page_offset)");
        return new ParquetColumnChunk(path, physical.Value, codec.Value, values.Value, dataOffset.Value, dictionaryOffset,
            External: false, Encrypted: false);
    }
}
