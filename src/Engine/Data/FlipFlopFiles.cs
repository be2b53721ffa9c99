using System.Buffers;

namespace RawFlipFlop.Engine.Data;

/// <summary>
/// Flip-flop datasets on disk: text (one sequence per line, no separators) or Parquet (string column
/// <c>text</c>, the schema of the public synthseq/flipflop files). Reading validates every sequence and
/// reports every problem with file, line (or row), column and reason; nothing is skipped silently.
/// </summary>
public static class FlipFlopFiles
{
    public const string TextColumn = "text";

    /// <summary>The result of checking a file: the sequences that were read and every problem found.</summary>
    public sealed record CheckResult(string Path, DataFileFormat Format, FlipFlopDataset? Dataset, ProblemLog Problems)
    {
        public bool IsValid => Problems.Total == 0 && Dataset != null;
    }

    /// <summary>Reads and validates a dataset; throws <see cref="DataFormatException"/> listing the problems.</summary>
    public static FlipFlopDataset Read(string path, int problemLimit = 100)
    {
        var result = Check(path, problemLimit);
        result.Problems.ThrowIfAny();
        return result.Dataset!;
    }

    /// <summary>Validates every sequence of a file. All sequences must share the first one's length.</summary>
    public static CheckResult Check(string path, int problemLimit = 100)
    {
        using var input = DataInput.Open(path);
        return Check(input, problemLimit);
    }

    /// <summary>Validates every sequence of an opened input (which this reads, once).</summary>
    public static CheckResult Check(DataInput input, int problemLimit = 100)
    {
        var problems = new ProblemLog(input.Path, input.Unit, problemLimit);
        var tokens = new ArrayBufferWriter<byte>(1 << 20);
        int length = -1;
        long count = 0;
        long firstLengthLine = 0;
        foreach (var record in input.Records([TextColumn], problems))
        {
            string? text = record.Fields[0];
            if (text == null)
            {
                problems.Add(record.Number, 0, "null value in column 'text'");
                continue;
            }
            var span = tokens.GetSpan(text.Length)[..text.Length];
            long number = record.Number;
            bool valid = FlipFlopValidator.Validate(text, span, (column, reason) => problems.Add(number, column, reason));
            if (!valid) continue;
            if (length < 0)
            {
                length = text.Length;
                firstLengthLine = number;
            }
            else if (text.Length != length)
            {
                problems.Add(number, 0, $"length {text.Length} differs from {length}, the length of {problems.Unit} {firstLengthLine}: a dataset holds sequences of one length");
                continue;
            }
            tokens.Advance(text.Length);
            count++;
        }
        if (count == 0 && problems.Total == 0) problems.Add(0, 0, "the file holds no sequences");
        if (count > int.MaxValue) problems.Add(0, 0, $"{count} sequences are more than one dataset holds");
        var dataset = length > 0 && problems.Total == 0 ? new FlipFlopDataset(tokens.WrittenSpan.ToArray(), (int)count, length) : null;
        return new CheckResult(input.Path, input.Format, dataset, problems);
    }

    /// <summary>Writes a dataset atomically, as Parquet when the path ends in .parquet and as text otherwise.</summary>
    public static void Write(string path, FlipFlopDataset dataset)
    {
        var text = new string[dataset.Count];
        Parallel.For(0, dataset.Count, i => text[i] = dataset.SequenceText(i));
        RecordFiles.Write(path, [TextColumn], [text]);
    }
}
