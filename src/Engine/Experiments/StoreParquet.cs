using Parquet;
using Parquet.Schema;

namespace RawFlipFlop.Engine.Experiments;

/// <summary>
/// A results-store table as a Parquet file for pandas and polars: INTEGER columns as INT64, REAL as DOUBLE, TEXT as
/// UTF-8 strings, NOT NULL columns required and the others optional; row groups of at most 1M rows, in key order.
/// </summary>
public static class StoreParquet
{
    public const int RowGroupSize = 1 << 20;

    public static void Write(StoreTable table, string path) => WriteAsync(table, path).GetAwaiter().GetResult();

    static async Task WriteAsync(StoreTable table, string path)
    {
        var fields = table.Columns.Select(Field).ToArray();
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(new ParquetSchema(fields), stream);
        for (int start = 0; start == 0 || start < table.Rows.Count; start += RowGroupSize)
        {
            int count = Math.Min(RowGroupSize, table.Rows.Count - start);
            using var group = writer.CreateRowGroup();
            for (int c = 0; c < fields.Length; c++)
                await WriteColumn(group, fields[c], table, c, start, count);
            group.CompleteValidate();
        }
    }

    static Task WriteColumn(ParquetRowGroupWriter group, DataField field, StoreTable table, int c, int start, int count) => Column(table, c, start, count) switch
    {
        long[] v => group.WriteAsync((DataField<long>)field, new ReadOnlyMemory<long>(v)),
        long?[] v => group.WriteAsync((DataField<long?>)field, new ReadOnlyMemory<long?>(v)),
        double[] v => group.WriteAsync((DataField<double>)field, new ReadOnlyMemory<double>(v)),
        double?[] v => group.WriteAsync((DataField<double?>)field, new ReadOnlyMemory<double?>(v)),
        string?[] v => group.WriteAsync((DataField<string>)field, v!),
        _ => throw new InvalidOperationException("unreachable"),
    };

    static DataField Field(StoreColumn column) => column.Type switch
    {
        "INTEGER" => column.NotNull ? new DataField<long>(column.Name) : new DataField<long?>(column.Name),
        "REAL" => column.NotNull ? new DataField<double>(column.Name) : new DataField<double?>(column.Name),
        "TEXT" => new DataField<string>(column.Name, nullable: !column.NotNull),
        _ => throw new InvalidDataException($"column {column.Name}: SQLite type {column.Type} has no Parquet mapping"),
    };

    /// <summary>Rows [start, start + count) of column c as the typed array its field wants.</summary>
    static Array Column(StoreTable table, int c, int start, int count)
    {
        var column = table.Columns[c];
        var values = table.Rows.Skip(start).Take(count).Select(row => row[c]);
        return (column.Type, column.NotNull) switch
        {
            ("INTEGER", true) => values.Select(v => Convert.ToInt64(v)).ToArray(),
            ("INTEGER", false) => values.Select(v => v == null ? (long?)null : Convert.ToInt64(v)).ToArray(),
            ("REAL", true) => values.Select(v => Convert.ToDouble(v)).ToArray(),
            ("REAL", false) => values.Select(v => v == null ? (double?)null : Convert.ToDouble(v)).ToArray(),
            _ => values.Select(v => v == null ? null : Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray(),
        };
    }
}
