using System.Buffers.Binary;
using RawFlipFlop.Engine.IO;

namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>A top-level field of a Parquet schema: its name, its first column's index, and what it is.</summary>
public sealed record ParquetField(string Name, int ColumnIndex, bool IsGroup, int? Type, int? Repetition)
{
    public string Describe() => IsGroup ? "group" : Type is { } t && Enum.IsDefined((ParquetPhysicalType)t) ? ((ParquetPhysicalType)t).ToString() : $"type {Type}";
}

/// <summary>
/// An opened Parquet file: magic bytes and footer checked, metadata parsed. The footer length is checked
/// against the file before the footer is read; nothing else is read until a column is.
/// </summary>
public sealed class ParquetFile
{
    static ReadOnlySpan<byte> Magic => "PAR1"u8;
    static ReadOnlySpan<byte> EncryptedMagic => "PARE"u8;

    public IByteSource Source { get; }
    public ParquetMetadata Metadata { get; }
    /// <summary>Where the footer begins: every page must end before it.</summary>
    public long DataEnd { get; }
    public IReadOnlyList<ParquetField> Fields { get; }
    public int ColumnCount { get; }
    /// <summary>What reading this file's columns may still cost.</summary>
    public ParquetReadBudget Budget { get; }

    ParquetFile(IByteSource source, ParquetMetadata metadata, long dataEnd)
    {
        Source = source;
        Metadata = metadata;
        DataEnd = dataEnd;
        (Fields, ColumnCount) = TopLevelFields(metadata.Schema);
        Budget = new ParquetReadBudget(source.Length);
    }

    public static ParquetFile Open(IByteSource source)
    {
        long length = source.Length;
        if (length < 12) throw new ParquetFormatException($"{length} bytes are too few for a Parquet file (at least 12)");
        var head = source.Read(0, 4);
        var tail = source.Read(length - 8, 8);
        if (head.AsSpan().SequenceEqual(EncryptedMagic) || tail.AsSpan(4).SequenceEqual(EncryptedMagic))
            throw new ParquetFormatException("encrypted Parquet files are not supported");
        if (!head.AsSpan().SequenceEqual(Magic)) throw new ParquetFormatException("no PAR1 magic at the start");
        if (!tail.AsSpan(4).SequenceEqual(Magic)) throw new ParquetFormatException("no PAR1 magic at the end (truncated?)");
        uint footerLength = BinaryPrimitives.ReadUInt32LittleEndian(tail);
        if (footerLength == 0 || footerLength > length - 12)
            throw new ParquetFormatException($"footer length {footerLength} does not fit the file ({length} bytes)");
        long footerStart = length - 8 - footerLength;
        ParquetMetadata metadata;
        try
        {
            metadata = ParquetMetadata.Parse(source.Read(footerStart, footerLength));
        }
        catch (ParquetFormatException e)
        {
            throw new ParquetFormatException($"footer: {e.Message}");
        }
        if (metadata.Encrypted) throw new ParquetFormatException("encrypted Parquet files are not supported");
        return new ParquetFile(source, metadata, footerStart);
    }

    /// <summary>The root's children, walked without recursion (a hostile schema may nest deep).</summary>
    static (IReadOnlyList<ParquetField>, int) TopLevelFields(IReadOnlyList<ParquetSchemaElement> schema)
    {
        var fields = new List<ParquetField>();
        int position = 1, columns = 0;
        for (int child = 0; child < schema[0].ChildCount; child++)
        {
            if (position >= schema.Count) throw new ParquetFormatException($"the schema root has {schema[0].ChildCount} children but the schema ends");
            var top = schema[position];
            int firstColumn = columns;
            long pending = 1;
            while (pending > 0)
            {
                if (position >= schema.Count) throw new ParquetFormatException($"schema group '{Printable.Of(top.Name)}' has more children than the schema holds");
                var element = schema[position++];
                pending += element.ChildCount - 1;
                if (element.ChildCount == 0) columns++;
                if (pending > schema.Count - position) throw new ParquetFormatException($"schema group '{Printable.Of(top.Name)}' has more children than the schema holds");
            }
            fields.Add(new ParquetField(top.Name, firstColumn, top.ChildCount > 0, top.Type, top.Repetition));
        }
        if (position != schema.Count) throw new ParquetFormatException($"the schema has {schema.Count - position} elements outside its tree");
        return (fields, columns);
    }
}
