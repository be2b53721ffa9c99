using RawFlipFlop.Engine.IO;

namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>
/// The records of a Parquet file: the named top-level string columns, one record per row, one row group at a
/// time. A column that is missing or not a plain string column is reported before anything is read; a
/// failure while reading a row group is reported with the row group and column, and ends the reading.
/// </summary>
public static class ParquetRecords
{
    public static IEnumerable<Record> Read(ParquetFile file, IReadOnlyList<string> fields, ProblemLog problems)
    {
        var columns = new ParquetField[fields.Count];
        for (int f = 0; f < fields.Count; f++)
        {
            if (ProblemWith(file, fields[f]) is { } problem)
            {
                problems.Add(0, 0, problem);
                yield break;
            }
            columns[f] = file.Fields.First(c => c.Name == fields[f]);
        }
        var groups = file.Metadata.RowGroups;
        long number = 0;
        for (int g = 0; g < groups.Count; g++)
        {
            var (values, failure) = ReadGroup(file, groups[g], columns);
            if (failure != null)
            {
                string rows = groups[g].RowCount > 0 ? $" (rows {number + 1}-{number + groups[g].RowCount})" : "";
                problems.Add(0, 0, $"row group {g + 1} of {groups.Count}{rows}, {failure}");
                yield break;
            }
            for (int r = 0; r < groups[g].RowCount; r++)
            {
                var record = new string?[columns.Length];
                for (int f = 0; f < columns.Length; f++) record[f] = values![f][r];
                yield return new Record(++number, record);
            }
        }
    }

    /// <summary>Why <paramref name="name"/> cannot be read as a string column, or null when it can.</summary>
    static string? ProblemWith(ParquetFile file, string name)
    {
        var field = file.Fields.FirstOrDefault(c => c.Name == name);
        string have = string.Join(", ", file.Fields.Take(20).Select(c => $"{Printable.Of(c.Name)} ({c.Describe()})")) +
                      (file.Fields.Count > 20 ? $" and {file.Fields.Count - 20} more" : "");
        if (field == null) return $"no string column named '{name}' (columns: {have})";
        if (field.IsGroup || field.Type != (int)ParquetPhysicalType.ByteArray || field.Repetition is not (null or 0 or 1))
            return $"column '{name}' is not a plain string column: it is {(field.Repetition == 2 ? "a repeated " : "")}{field.Describe()} (columns: {have})";
        return null;
    }

    static (List<string?>[]? Values, string? Failure) ReadGroup(ParquetFile file, ParquetRowGroup group, ParquetField[] columns)
    {
        var values = new List<string?>[columns.Length];
        for (int f = 0; f < columns.Length; f++)
        {
            string name = columns[f].Name;
            try
            {
                values[f] = ReadChunk(file, group, columns[f]);
            }
            catch (Exception e) when (IsReadFailure(e))
            {
                return (null, $"column '{name}': {e.Message}");
            }
        }
        return (values, null);
    }

    static List<string?> ReadChunk(ParquetFile file, ParquetRowGroup group, ParquetField column)
    {
        if (group.Columns.Count != file.ColumnCount)
            throw new ParquetFormatException($"the row group has {group.Columns.Count} column chunks, the schema {file.ColumnCount} columns");
        var chunk = group.Columns[column.ColumnIndex] ?? throw new ParquetFormatException("the column chunk has no metadata (encrypted?)");
        if (chunk.External) throw new ParquetFormatException("the column's data is in another file, which is not supported");
        if (chunk.Encrypted) throw new ParquetFormatException("the column is encrypted, which is not supported");
        if (chunk.Path.Count != 1 || chunk.Path[0] != column.Name)
            throw new ParquetFormatException($"the column chunk is for '{Printable.Of(string.Join(".", chunk.Path))}'");
        if (chunk.Type != (int)ParquetPhysicalType.ByteArray) throw new ParquetFormatException($"the column chunk has physical type {chunk.Type}, not BYTE_ARRAY");
        if (chunk.ValueCount != group.RowCount)
            throw new ParquetFormatException($"the column chunk holds {chunk.ValueCount} values for {group.RowCount} rows");
        var codec = (ParquetCodec)chunk.Codec;
        if (!ParquetDecompressor.IsSupported(codec))
            throw new ParquetFormatException($"compression codec {(Enum.IsDefined(codec) ? codec.ToString() : chunk.Codec.ToString())} is not supported");
        int maxDefinitionLevel = column.Repetition == 1 ? 1 : 0;
        var values = new ParquetColumnReader(file.Source, file.DataEnd, codec, maxDefinitionLevel, file.Budget).Read(chunk);
        if (values.Count != group.RowCount) throw new ParquetFormatException($"the pages hold {values.Count} values for {group.RowCount} rows");
        return values;
    }

    /// <summary>Every way reading a corrupt file can fail, the decompressors' own errors included.</summary>
    public static bool IsReadFailure(Exception e) =>
        e is ParquetFormatException or IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException
            or IndexOutOfRangeException or InvalidOperationException or OverflowException or NotSupportedException or FormatException
            or ZstdSharp.ZstdException;
}
