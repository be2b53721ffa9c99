using System.Text;
using Parquet;
using Parquet.Schema;

namespace RawFlipFlop.Engine.Data;

/// <summary>One record of an input file: its 1-based line (text) or row (Parquet) and its string fields.</summary>
public readonly record struct Record(long Number, string?[] Fields);

/// <summary>File formats for datasets, chosen by extension (.parquet) or Parquet's magic bytes.</summary>
public enum DataFileFormat { Text, Parquet }

/// <summary>
/// Reads and writes string records: text files (one record per line, fields separated by tabs) and
/// Parquet files (one string column per field). Both flip-flop and automaton files are built on it.
/// </summary>
public static class RecordFiles
{
    public static DataFileFormat FormatOf(string path)
    {
        if (Path.GetExtension(path).Equals(".parquet", StringComparison.OrdinalIgnoreCase)) return DataFileFormat.Parquet;
        if (File.Exists(path))
        {
            using var stream = File.OpenRead(path);
            Span<byte> magic = stackalloc byte[4];
            if (stream.Read(magic) == 4 && magic.SequenceEqual("PAR1"u8)) return DataFileFormat.Parquet;
        }
        return DataFileFormat.Text;
    }

    /// <summary>The unit a record number counts in this format: "line" or "row".</summary>
    public static string UnitOf(DataFileFormat format) => format == DataFileFormat.Parquet ? "row" : "line";

    /// <summary>
    /// Streams the records of <paramref name="path"/> with the named fields. Text: each line split on tabs
    /// (a line with another field count is reported through <paramref name="problems"/>). Parquet: the named
    /// string columns; a missing column is reported as a problem at row 0 and nothing is read.
    /// </summary>
    public static IEnumerable<Record> Read(string path, IReadOnlyList<string> fields, ProblemLog problems)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
        return FormatOf(path) == DataFileFormat.Parquet ? ReadParquet(path, fields, problems) : ReadText(path, fields, problems);
    }

    static IEnumerable<Record> ReadText(string path, IReadOnlyList<string> fields, ProblemLog problems)
    {
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true, bufferSize: 1 << 16);
        long number = 0;
        string? line;
        while ((line = reader.ReadLine()) != null)
        {
            number++;
            if (fields.Count == 1)
            {
                yield return new Record(number, [line]);
                continue;
            }
            var parts = line.Split('\t');
            if (parts.Length != fields.Count)
            {
                problems.Add(number, 0, $"expected {fields.Count} tab-separated fields ({string.Join(", ", fields)}), found {parts.Length}");
                continue;
            }
            yield return new Record(number, parts);
        }
    }

    static IEnumerable<Record> ReadParquet(string path, IReadOnlyList<string> fields, ProblemLog problems) =>
        ReadParquetAsync(path, fields, problems).GetAwaiter().GetResult();

    static async Task<List<Record>> ReadParquetAsync(string path, IReadOnlyList<string> fields, ProblemLog problems)
    {
        var records = new List<Record>();
        await using var stream = File.OpenRead(path);
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(stream);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException
                                      or InvalidOperationException or ParquetException)
        {
            problems.Add(0, 0, $"not a readable Parquet file: {e.Message}");
            return records;
        }
        await using (reader)
        {
            var available = reader.Schema.GetDataFields();
            var columns = new DataField[fields.Count];
            for (int f = 0; f < fields.Count; f++)
            {
                var field = available.FirstOrDefault(d => d.Name == fields[f]);
                if (field == null || !(field.ClrType == typeof(string) || field.ClrType == typeof(ReadOnlyMemory<char>)) || field.IsArray)
                {
                    string have = string.Join(", ", available.Select(d => $"{d.Name} ({d.ClrType.Name}{(d.IsArray ? "[]" : "")})"));
                    problems.Add(0, 0, field == null
                        ? $"no string column named '{fields[f]}' (columns: {have})"
                        : $"column '{fields[f]}' is not a plain string column (columns: {have})");
                    return records;
                }
                columns[f] = field;
            }
            long number = 0;
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                var group = reader.OpenRowGroupReader(g);
                int rows = checked((int)group.RowCount);
                var values = new string?[fields.Count][];
                for (int f = 0; f < fields.Count; f++)
                {
                    var data = new string?[rows];
                    await group.ReadAsync(columns[f], data.AsMemory());
                    values[f] = data;
                }
                for (int r = 0; r < rows; r++)
                {
                    number++;
                    var record = new string?[fields.Count];
                    for (int f = 0; f < fields.Count; f++) record[f] = values[f][r];
                    records.Add(new Record(number, record));
                }
            }
        }
        return records;
    }

    /// <summary>Writes records atomically as text (tab-separated) or Parquet (string columns), by extension.</summary>
    public static void Write(string path, IReadOnlyList<string> fields, IReadOnlyList<string[]> columns, int rowGroupSize = 65536)
    {
        int rows = columns[0].Length;
        IO.AtomicFile.Write(path, stream =>
        {
            if (Path.GetExtension(path).Equals(".parquet", StringComparison.OrdinalIgnoreCase))
                WriteParquet(stream, fields, columns, rows, rowGroupSize);
            else
                WriteText(stream, columns, rows);
        });
    }

    static void WriteText(Stream stream, IReadOnlyList<string[]> columns, int rows)
    {
        using var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16, leaveOpen: true) { NewLine = "\n" };
        for (int r = 0; r < rows; r++)
        {
            for (int f = 0; f < columns.Count; f++)
            {
                if (f > 0) writer.Write('\t');
                writer.Write(columns[f][r]);
            }
            writer.Write('\n');
        }
    }

    static void WriteParquet(Stream stream, IReadOnlyList<string> fields, IReadOnlyList<string[]> columns, int rows, int rowGroupSize) =>
        WriteParquetAsync(stream, fields, columns, rows, rowGroupSize).GetAwaiter().GetResult();

    static async Task WriteParquetAsync(Stream stream, IReadOnlyList<string> fields, IReadOnlyList<string[]> columns, int rows, int rowGroupSize)
    {
        var dataFields = fields.Select(f => new DataField<string>(f, false)).ToArray();
        var schema = new ParquetSchema(dataFields);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, null, false);
        for (int start = 0; start == 0 || start < rows; start += rowGroupSize)
        {
            int count = Math.Min(rowGroupSize, rows - start);
            using var group = writer.CreateRowGroup();
            for (int f = 0; f < fields.Count; f++)
                await group.WriteAsync(dataFields[f], columns[f].AsSpan(start, count).ToArray());
            group.CompleteValidate();
        }
    }
}
