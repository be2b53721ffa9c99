using System.Buffers;
using System.Text.Unicode;

namespace RawFlipFlop.Engine.Data;

/// <summary>
/// Records of a text file: one a line, fields separated by tabs. Lines end in "\n" or "\r\n" (a lone "\r" is
/// kept and reported as a bad character); the text must be UTF-8 (a UTF-8 byte-order mark is skipped). Lines
/// are split on bytes, so a line is never longer in memory than <see cref="MaxLineBytes"/>.
/// </summary>
public static class TextRecords
{
    /// <summary>The longest line read; a longer one is reported and skipped. Far above any sequence length in use.</summary>
    public const int MaxLineBytes = 1 << 24;

    public static IEnumerable<Record> Read(Stream stream, ReadOnlyMemory<byte> prefix, IReadOnlyList<string> fields, ProblemLog problems)
    {
        if (prefix.Span.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xFE]) || prefix.Span.StartsWith((ReadOnlySpan<byte>)[0xFE, 0xFF]))
        {
            problems.Add(0, 0, "the file is UTF-16 (it starts with a UTF-16 byte-order mark); data files are UTF-8");
            yield break;
        }
        if (prefix.Span.StartsWith("\uFEFF"u8)) prefix = prefix[3..];
        long number = 0;
        foreach (var (bytes, tooLong) in Lines(stream, prefix, problems))
        {
            number++;
            if (tooLong)
            {
                problems.Add(number, 0, $"the line is longer than {MaxLineBytes} bytes; it was skipped");
                continue;
            }
            var line = bytes.Span;
            if (line.EndsWith((byte)'\r')) line = line[..^1];
            var chars = new char[line.Length];
            if (Utf8.ToUtf16(line, chars, out int read, out int written, replaceInvalidSequences: false) != OperationStatus.Done)
            {
                problems.Add(number, written + 1, $"invalid UTF-8 (byte 0x{line[read]:X2}): data files are UTF-8 text");
                continue;
            }
            string text = new(chars, 0, written);
            if (fields.Count == 1)
            {
                yield return new Record(number, [text]);
                continue;
            }
            var parts = text.Split('\t');
            if (parts.Length != fields.Count)
            {
                problems.Add(number, 0, $"expected {fields.Count} tab-separated fields ({string.Join(", ", fields)}), found {parts.Length}");
                continue;
            }
            yield return new Record(number, parts);
        }
    }

    /// <summary>
    /// The lines of <paramref name="prefix"/> followed by the rest of <paramref name="stream"/>, without their "\n".
    /// Each line's bytes are valid until the next one is asked for. A read error is reported and ends the lines.
    /// </summary>
    static IEnumerable<(ReadOnlyMemory<byte> Bytes, bool TooLong)> Lines(Stream stream, ReadOnlyMemory<byte> prefix, ProblemLog problems)
    {
        var line = new ArrayBufferWriter<byte>(4096);
        var buffer = new byte[1 << 16];
        var chunk = prefix;
        bool tooLong = false, pending = false;
        while (true)
        {
            if (chunk.IsEmpty)
            {
                int n = ReadSome(stream, buffer, problems);
                if (n <= 0) break;
                chunk = buffer.AsMemory(0, n);
            }
            int newline = chunk.Span.IndexOf((byte)'\n');
            var part = newline < 0 ? chunk.Span : chunk.Span[..newline];
            pending = true;
            if (!tooLong && line.WrittenCount + part.Length > MaxLineBytes)
            {
                tooLong = true;
                line.ResetWrittenCount();
            }
            if (!tooLong) line.Write(part);
            if (newline < 0)
            {
                chunk = ReadOnlyMemory<byte>.Empty;
                continue;
            }
            yield return (line.WrittenMemory, tooLong);
            line.ResetWrittenCount();
            tooLong = pending = false;
            chunk = chunk[(newline + 1)..];
        }
        if (pending) yield return (line.WrittenMemory, tooLong);
    }

    static int ReadSome(Stream stream, byte[] buffer, ProblemLog problems)
    {
        try
        {
            return stream.Read(buffer);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            problems.Add(0, 0, $"reading failed: {e.Message}");
            return -1;
        }
    }
}
