using System.Text.Json;
using RawFlipFlop.Engine.Experiments;

namespace RawFlipFlop.Tests.Experiments.Cli;

public sealed class ExperimentCommandTests
{
    [Fact]
    public void List_gives_runs_and_hours_per_scale_with_their_basis()
    {
        var text = CliRunner.Run("experiment", "list");
        Assert.Equal(0, text.ExitCode);
        Assert.Matches(@"baseline\s+paper\s+500\s+[\d,]+ h\*\s+[\d,.]+ h~\s+R1", text.Out);
        Assert.Contains("measured", text.Out);
        Assert.Contains("estimated", text.Out);

        var json = CliRunner.Run("experiment", "list", "--json");
        using var doc = JsonDocument.Parse(json.Out);
        var baseline = doc.RootElement.EnumerateArray().Single(e => e.GetProperty("name").GetString() == "baseline");
        var paper = baseline.GetProperty("scales").EnumerateArray().Single(s => s.GetProperty("scale").GetString() == "paper");
        Assert.Equal(500, paper.GetProperty("runs").GetInt32());
        double hours = paper.GetProperty("cpu_hours").GetDouble();
        var options = ExperimentCatalog.ByName("baseline").Runs(Scale.Paper)[0].Options;
        Assert.Equal(500 * RunCost.Estimate(options, "cpu").Hours, hours, 6);
        Assert.False(paper.GetProperty("gpu_measured").GetBoolean());
    }
}
