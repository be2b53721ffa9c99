using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Tests.Engine.Data;

[Trait("Category", "Cpu")]
public class ValidationTests
{
    static IReadOnlyList<DataProblem> ProblemsOf(string content, string name = "bad.txt")
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File(name), content);
        var result = FlipFlopFiles.Check(dir.File(name));
        Assert.False(result.IsValid);
        Assert.Null(result.Dataset);
        return result.Problems.Problems;
    }

    [Theory]
    [InlineData("w1i0r1\nw1x0r1\n", 2, 3, "unexpected character 'x'")]
    [InlineData("w1i0r1\n\nw1i0r1\n", 2, 0, "empty line")]
    [InlineData("w1i0r\n", 1, 5, "odd length 5")]
    [InlineData("i1w0r0\n", 1, 1, "must start with 'w'")]
    [InlineData("w1i0r0\n", 1, 6, "read gives '0' but the last write (column 2) wrote '1'")]
    [InlineData("w1i0w0r1\n", 1, 8, "read gives '1' but the last write (column 6) wrote '0'")]
    [InlineData("w1r1\nw10r1\n", 2, 3, "expected an instruction (w, r or i) at column 3, found '0'")]
    [InlineData("w1ww\n", 1, 4, "expected a bit (0 or 1) after 'w' at column 4, found 'w'")]
    [InlineData("w1\n", 1, 0, "too short")]
    [InlineData("w1i0r1\nw1i0i0r1\n", 2, 0, "length 8 differs from 6, the length of line 1")]
    [InlineData("w1 i0r1\n", 1, 3, "' ' (space)")]
    [InlineData("w1\ti0\n", 1, 3, "'\\t' (tab)")]
    public void Each_kind_of_bad_input_is_reported_with_line_column_and_reason(string content, long line, int column, string reason)
    {
        var problems = ProblemsOf(content);
        var p = Assert.Single(problems);
        Assert.Equal(line, p.Line);
        Assert.Equal(column, p.Column);
        Assert.Contains(reason, p.Reason);
        Assert.EndsWith("bad.txt", p.Source);
        Assert.Contains($"line {line}", p.ToString());
    }

    [Fact]
    public void Empty_file_is_rejected()
    {
        Assert.Contains("no sequences", Assert.Single(ProblemsOf("")).Reason);
    }

    [Fact]
    public void Every_problem_is_counted_and_the_list_is_capped()
    {
        using var dir = new TempDir();
        var lines = Enumerable.Range(0, 250).Select(i => i % 2 == 0 ? "w1r0" : "w1r1");
        File.WriteAllText(dir.File("many.txt"), string.Join("\n", lines));
        var result = FlipFlopFiles.Check(dir.File("many.txt"), problemLimit: 10);
        Assert.Equal(125, result.Problems.Total);
        Assert.Equal(10, result.Problems.Problems.Count);
        var e = Assert.Throws<DataFormatException>(() => FlipFlopFiles.Read(dir.File("many.txt"), problemLimit: 10));
        Assert.Contains("125 problems", e.Message);
        Assert.Contains("and 115 more problems", e.Message);
    }

    [Fact]
    public void Parquet_without_a_text_column_names_the_columns_it_has()
    {
        using var dir = new TempDir();
        RecordFiles.Write(dir.File("x.parquet"), ["sequence"], [["w1r1"]]);
        var result = FlipFlopFiles.Check(dir.File("x.parquet"));
        var p = Assert.Single(result.Problems.Problems);
        Assert.Contains("no string column named 'text' (columns: sequence", p.Reason);
    }

    [Fact]
    public void Bad_rows_in_parquet_are_reported_by_row()
    {
        using var dir = new TempDir();
        RecordFiles.Write(dir.File("x.parquet"), ["text"], [["w1r1", "w1r0", "w0r0"]]);
        var p = Assert.Single(FlipFlopFiles.Check(dir.File("x.parquet")).Problems.Problems);
        Assert.Equal(2, p.Line);
        Assert.Equal("row", p.Unit);
        Assert.Contains("row 2, column 4", p.ToString());
    }

    [Fact]
    public void A_file_that_is_not_parquet_but_named_so_is_reported_not_thrown()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("fake.parquet"), "w1r1\n");
        var p = Assert.Single(FlipFlopFiles.Check(dir.File("fake.parquet")).Problems.Problems);
        Assert.Contains("not a readable Parquet file", p.Reason);
    }
}
