using RawFlipFlop.Engine.Data;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Engine.Data;

[Trait("Category", "Cpu")]
public class FileFormatTests
{
    static FlipFlopDataset SomeData(int count = 257, int length = 64) =>
        new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.8)).SampleMany(3, RandomDomain.Dataset, 0, count, length);

    [Theory]
    [InlineData("set.txt")]
    [InlineData("set.parquet")]
    [InlineData("set.ffl")]
    public void Round_trip_is_exact(string name)
    {
        using var dir = new TempDir();
        var data = SomeData();
        FlipFlopFiles.Write(dir.File(name), data);
        var back = FlipFlopFiles.Read(dir.File(name));
        Assert.Equal(data.Count, back.Count);
        Assert.Equal(data.Length, back.Length);
        Assert.Equal(data.Tokens, back.Tokens);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp")); // the temporary file was renamed away
    }

    [Fact]
    public void Parquet_with_several_row_groups_round_trips()
    {
        using var dir = new TempDir();
        var data = SomeData(1000, 16);
        var text = Enumerable.Range(0, data.Count).Select(data.SequenceText).ToArray();
        RecordFiles.Write(dir.File("g.parquet"), ["text"], [text], rowGroupSize: 300);
        Assert.Equal(data.Tokens, FlipFlopFiles.Read(dir.File("g.parquet")).Tokens);
    }

    [Fact]
    public void Text_file_is_one_sequence_per_line_with_no_separators()
    {
        using var dir = new TempDir();
        var data = SomeData(3, 8);
        FlipFlopFiles.Write(dir.File("a.txt"), data);
        var lines = File.ReadAllText(dir.File("a.txt")).Split('\n');
        Assert.Equal(4, lines.Length); // three lines and the final newline
        Assert.Equal(data.SequenceText(0), lines[0]);
        Assert.Matches("^w[01]([wri][01]){2}r[01]$", lines[1]);
    }

    [Theory]
    [InlineData("flipflop-arrow-rs.parquet")]
    [InlineData("flipflop-hyparquet.parquet")]
    public void Parquet_written_by_another_tool_loads(string fixture)
    {
        var fromParquet = FlipFlopFiles.Read(Fixtures.File(fixture));
        var fromText = FlipFlopFiles.Read(Fixtures.File("flipflop-fixture.txt"));
        Assert.Equal(300, fromParquet.Count);
        Assert.Equal(512, fromParquet.Length);
        Assert.Equal(fromText.Tokens, fromParquet.Tokens);
        Assert.Equal(5746, DatasetStatistics.Of(fromParquet).Reads);
    }

    [Fact]
    public void Crlf_line_endings_are_accepted()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("crlf.txt"), "w1i0r1r1\r\nw0w1r1i0\r\n");
        var data = FlipFlopFiles.Read(dir.File("crlf.txt"));
        Assert.Equal(2, data.Count);
        Assert.Equal("w0w1r1i0", data.SequenceText(1));
    }

    [Fact]
    public void Writing_over_an_existing_file_replaces_it_whole()
    {
        using var dir = new TempDir();
        FlipFlopFiles.Write(dir.File("a.parquet"), SomeData(10, 8));
        var second = SomeData(20, 12);
        FlipFlopFiles.Write(dir.File("a.parquet"), second);
        Assert.Equal(second.Tokens, FlipFlopFiles.Read(dir.File("a.parquet")).Tokens);
    }
}
