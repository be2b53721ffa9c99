using System.Text;
using Parquet;
using Parquet.Schema;

namespace RawFlipFlop.Engine.Data;

/// <summary>One record of an input file: its 1-based line (text) or row (Parquet) and its string fields.</summary>
public readonly record struct Record(long Number, string?[] Fields);

/// <summary>File formats for datasets, chosen by extension (.parquet) or Parquet's magic bytes.</summary>
public enum DataFileFormat { Text, Parquet }

/// <summary>
/// Writes string records: text files (one record per line, fields separated by tabs) and Parquet files (one
/// string column per field). Both flip-flop and automaton files are built on it; <see cref="DataInput"/> reads them.
/// </summary>
public static class RecordFiles
{
    /// <summary>The unit a record number counts in this format: "line" or "row".</summary>
    public static string UnitOf(DataFileFormat format) => format == DataFileFormat.Parquet ? "row" : "line";

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
