using System.Text;
using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Tests.Engine.Data;

/// <summary>Hostile text files: each problem is reported with the file, the line and what is wrong.</summary>
[Trait("Category", "Cpu")]
public class TextHostileTests
{
    static DataProblem SingleProblem(byte[] content)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.txt");
        File.WriteAllBytes(path, content);
        var result = FlipFlopFiles.Check(path);
        Assert.False(result.IsValid);
        var problem = Assert.Single(result.Problems.Problems);
        Assert.StartsWith(path + ": ", problem.ToString());
        return problem;
    }

    public static TheoryData<string, byte[], long, int, string> Cases() => new()
    {
        { "NUL byte", "w1r1\nw1\0r1\n"u8.ToArray(), 2, 3, "U+0000 (control character)" },
        { "escape character", "w1\u001b[2Jr1\n"u8.ToArray(), 1, 3, "U+001B (control character)" },
        { "invalid UTF-8", [.. "w1r1\nw1"u8, 0xFF, .. "r1\n"u8], 2, 3, "invalid UTF-8 (byte 0xFF)" },
        { "truncated UTF-8 sequence", [.. "w1r1"u8, 0xE2, 0x82], 1, 5, "invalid UTF-8 (byte 0xE2)" },
        { "replacement character", "w1\uFFFDr1\n"u8.ToArray(), 1, 3, "U+FFFD (the replacement character" },
        { "lone carriage return", "w1r1\rw1r1\n"u8.ToArray(), 1, 5, "'\\r' (carriage return)" },
        { "empty file", [], 0, 0, "the file holds no sequences" },
        { "only a newline", "\n"u8.ToArray(), 1, 0, "empty line" },
        { "UTF-16 byte-order mark", [0xFF, 0xFE, .. Encoding.Unicode.GetBytes("w1r1\n")], 0, 0, "the file is UTF-16" },
        { "byte-order mark inside", "w1r1\n\uFEFFw1r1\n"u8.ToArray(), 2, 1, "U+FEFF (a byte-order mark)" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_bad_text_is_reported_with_line_column_and_reason(string name, byte[] content, long line, int column, string reason)
    {
        var problem = SingleProblem(content);
        Assert.True(problem.Line == line && problem.Column == column && problem.Reason.Contains(reason),
            $"{name}: got {problem}");
    }

    [Fact]
    public void Crlf_and_a_utf8_byte_order_mark_are_accepted()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("crlf.txt"), [0xEF, 0xBB, 0xBF, .. "w1i0r1r1\r\nw0w1r1i0\r\n"u8]);
        var data = FlipFlopFiles.Read(dir.File("crlf.txt"));
        Assert.Equal(2, data.Count);
        Assert.Equal("w1i0r1r1", data.SequenceText(0));
    }

    [Fact]
    public void A_line_longer_than_the_bound_is_reported_and_skipped_without_holding_it()
    {
        using var dir = new TempDir();
        string path = dir.File("long.txt");
        using (var file = File.Create(path))
        {
            file.Write("w1r1\n"u8);
            var chunk = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("w1", 1 << 15)));
            for (long written = 0; written <= TextRecords.MaxLineBytes; written += chunk.Length) file.Write(chunk);
            file.Write("\nw0r0\n"u8);
        }
        var result = FlipFlopFiles.Check(path);
        var problem = Assert.Single(result.Problems.Problems);
        Assert.Equal(2, problem.Line);
        Assert.Contains($"longer than {TextRecords.MaxLineBytes} bytes", problem.Reason);
        Assert.Equal(1, result.Problems.Total);
    }

    [Fact]
    public void Automaton_text_problems_name_the_file_and_show_bad_characters()
    {
        using var dir = new TempDir();
        string path = dir.File("a.txt");
        File.WriteAllBytes(path, "1-\t11\n1\u0007\t11\n"u8.ToArray());
        var (data, problems) = AutomatonFiles.Check(path);
        Assert.Null(data);
        var problem = Assert.Single(problems.Problems);
        Assert.StartsWith(path + ": line 2, column 2: unexpected input character U+0007 (control character)", problem.ToString());
    }
}
