using System.Text.Json;
using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Tests.Experiments.Cli;

[Trait("Category", "Cpu")]
public class DataCommandTests
{
    [Fact]
    public void Generate_check_and_stats_work_together()
    {
        using var dir = new TempDir();
        string file = dir.File("s.parquet");
        var gen = CliRunner.Run("data", "generate", "--p-ignore", "0.98", "--count", "500", "--length", "128", "--seed", "3", "--out", file);
        Assert.Equal(0, gen.ExitCode);
        Assert.Contains("wrote 500 sequences of length 128", gen.Err);

        var check = CliRunner.Run("data", "check", file);
        Assert.Equal(0, check.ExitCode);
        Assert.Contains("valid (parquet), 500 sequences of length 128", check.Out);

        var stats = CliRunner.Run("data", "stats", file, "--json");
        Assert.Equal(0, stats.ExitCode);
        using var json = JsonDocument.Parse(stats.Out);
        var root = json.RootElement;
        var expected = DatasetStatistics.Of(FlipFlopFiles.Read(file));
        Assert.Equal(500, root.GetProperty("sequences").GetInt64());
        Assert.Equal(expected.Reads, root.GetProperty("reads").GetInt64());
        Assert.Equal(expected.Writes, root.GetProperty("writes").GetInt64());
        Assert.Equal(expected.Ignores, root.GetProperty("ignores").GetInt64());
        Assert.Equal(500L * 64, expected.Reads + expected.Writes + expected.Ignores);
        Assert.Equal(expected.MaxDependency, root.GetProperty("dependency_max").GetInt32());
    }

    [Fact]
    public void Generate_split_writes_the_evaluation_set_itself()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("data", "generate", "--split", "dense", "--count", "50", "--out", dir.File("d.txt"));
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(EvaluationSets.Dense.Generate(50).Tokens, FlipFlopFiles.Read(dir.File("d.txt")).Tokens);
    }

    [Fact]
    public void Generate_mixture_and_explicit_probabilities()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliRunner.Run("data", "generate", "--mixture", "0.9,0.98,0.1", "--count", "30", "--length", "32", "--out", dir.File("m.txt")).ExitCode);
        Assert.Equal(30, FlipFlopFiles.Read(dir.File("m.txt")).Count);
        Assert.Equal(0, CliRunner.Run("data", "generate", "--p-write", "0.2", "--p-read", "0.3", "--count", "30", "--length", "32", "--out", dir.File("p.txt")).ExitCode);
        var bad = CliRunner.Run("data", "generate", "--p-write", "0.2", "--count", "3", "--out", dir.File("q.txt"));
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--p-write and --p-read go together", bad.Err);
        Assert.False(File.Exists(dir.File("q.txt")));
    }

    [Fact]
    public void Generate_automaton_writes_a_valid_automaton_file()
    {
        using var dir = new TempDir();
        Assert.Equal(0, CliRunner.Run("data", "generate", "--automaton", "--p-write", "0.1", "--count", "20", "--length", "50", "--out", dir.File("a.parquet")).ExitCode);
        var check = CliRunner.Run("data", "check", dir.File("a.parquet"));
        Assert.Equal(0, check.ExitCode);
        Assert.Contains("valid automaton file, 20 sequences of length 50", check.Out);
    }

    [Fact]
    public void Check_exits_2_and_lists_every_problem_with_the_total()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("bad.txt"), "w1r0\nw1r1\nq1r1\nw1r0\n");
        var r = CliRunner.Run("data", "check", dir.File("bad.txt"), "--limit", "2");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("line 1, column 4: read gives '0'", r.Err);
        Assert.Contains("line 3, column 1: unexpected character 'q'", r.Err);
        Assert.DoesNotContain("line 4", r.Err);
        Assert.Contains("1 more problems not listed", r.Err);
        Assert.Contains("invalid, 3 problems", r.Err);
    }

    [Fact]
    public void Missing_files_and_bad_options_give_clear_errors_not_stack_traces()
    {
        var r = CliRunner.Run("data", "stats", "/nonexistent/file.txt");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("/nonexistent/file.txt: no such file", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
        var g = CliRunner.Run("data", "generate", "--p-ignore", "0.8", "--length", "7", "--out", "/tmp/x.txt");
        Assert.Equal(2, g.ExitCode);
        Assert.Contains("even and at least 4", g.Err);
    }

    [Theory]
    [InlineData("data")]
    [InlineData("data", "generate")]
    [InlineData("data", "check")]
    [InlineData("data", "stats")]
    public void Help_is_available_everywhere(params string[] command)
    {
        var r = CliRunner.Run([.. command, "--help"]);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("Usage:", r.Out);
    }
}
