using System.Text.Json;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Experiments.Cli;

/// <summary>The quick baseline experiment, trained once for the tests that need a model with errors.</summary>
public sealed class QuickBaselineFixture : IDisposable
{
    public TempDir Dir { get; } = new();

    public QuickBaselineFixture()
    {
        var run = CliRunner.Run("experiment", "run", "baseline", "--scale", "quick", "--out", Dir.File("b"));
        if (run.ExitCode != 0) throw new InvalidOperationException(run.Err);
    }

    public void Dispose() => Dir.Dispose();
}

/// <summary>The test classes that share one trained quick baseline.</summary>
[CollectionDefinition(Name)]
public sealed class QuickBaselineCollection : ICollectionFixture<QuickBaselineFixture>
{
    public const string Name = "quick baseline";
}

[Trait("Category", "Cpu")]
[Collection(QuickBaselineCollection.Name)]
public sealed class GlitchCommandTests(QuickBaselineFixture baseline)
{
    [Fact]
    public void Glitches_are_stored_with_their_runs_and_listed_with_their_sequences()
    {
        var dir = baseline.Dir;
        // the summary and the store agree, buckets and glitch records included
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("b/runs/baseline/baseline/0/summary.json")));
        var sparse = doc.RootElement.GetProperty("eval").EnumerateArray().First(e => e.GetProperty("split").GetString() == "sparse" &&
                                                                                      e.GetProperty("iterate").GetString() == "final");
        long errors = sparse.GetProperty("errors").GetInt64();
        Assert.True(errors > 0, "the quick baseline makes errors");
        Assert.Equal(sparse.GetProperty("reads").GetInt64(), sparse.GetProperty("by_dependency").EnumerateArray().Sum(b => b.GetProperty("reads").GetInt64()));
        Assert.Equal(errors, sparse.GetProperty("by_dependency").EnumerateArray().Sum(b => b.GetProperty("errors").GetInt64()));
        Assert.Equal(Math.Min(errors, Glitch.MaxRecords), sparse.GetProperty("glitches").GetArrayLength());
        using (var store = ResultsStore.OpenReadOnly(dir.File("b/results.db")))
        {
            var stored = store.Evals("baseline/baseline/0").First(e => e.Split == "sparse" && e.Iterate == RawFlipFlop.Engine.Training.Iterate.Final);
            Assert.Equal(sparse.GetProperty("glitches").GetArrayLength(), stored.Glitches.Count);
            Assert.Equal(sparse.GetProperty("glitches")[0].GetProperty("p_correct").GetDouble(), stored.Glitches[0].PCorrect);
        }

        var list = CliRunner.Run("glitches", "list", "--db", dir.File("b/results.db"), "--split", "sparse", "--limit", "5", "--sequences", "--json");
        Assert.True(list.ExitCode == 0, list.Err);
        using var records = JsonDocument.Parse(list.Out);
        Assert.Equal(5, records.RootElement.GetArrayLength());
        foreach (var g in records.RootElement.EnumerateArray())
        {
            // the printed sequence is the set's sequence of that index: the read is an r whose bit the model missed
            string text = g.GetProperty("text").GetString()!;
            var tokens = new byte[64];
            new FlipFlopSampler(EvaluationSets.Sparse.Distribution).Sample(EvaluationSets.Sparse.Seed, RandomDomain.Dataset, g.GetProperty("sequence").GetInt64(), tokens);
            Assert.Equal(new string(tokens.Select(t => Tokens.ToChar(t)).ToArray()), text);
            Assert.Equal('r', text[g.GetProperty("position").GetInt32()]);
            Assert.InRange(g.GetProperty("p_correct").GetDouble(), 0, 0.5 + 1e-9); // an error: the right bit was not the argmax
        }
        var unknown = CliRunner.Run("glitches", "list", "--db", dir.File("b/results.db"), "--run", "baseline/nope/0");
        Assert.Equal(2, unknown.ExitCode);
        Assert.Contains("--run", unknown.Err);
    }

    static double Rate(string output, string prefix)
    {
        var line = output.Split('\n').First(l => l.StartsWith(prefix, StringComparison.Ordinal));
        var open = line.LastIndexOf('(');
        return double.Parse(line[(open + 1)..line.IndexOf(" per", open, StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
    }

    [Theory]
    [InlineData("targeted")]
    [InlineData("mutate")]
    public void On_a_quick_model_the_miner_beats_random_sampling_and_eval_reads_what_it_writes(string strategy)
    {
        using var dir = new TempDir();
        string model = baseline.Dir.File("b/runs/baseline/baseline/0/best.safetensors");
        var mine = CliRunner.Run("glitches", "mine", "--checkpoint", model, "--budget", "2000", "--strategy", strategy, "--out", dir.File("g.txt"));
        Assert.True(mine.ExitCode == 0, mine.Err);
        Assert.True(Rate(mine.Out, strategy) > Rate(mine.Out, "random"), mine.Out);
        var eval = CliRunner.Run("eval", "--checkpoint", model, "--split", dir.File("g.txt"), "--json");
        Assert.True(eval.ExitCode == 0, eval.Err);
        using var doc = System.Text.Json.JsonDocument.Parse(eval.Out);
        // every mined sequence holds a misread
        Assert.Equal(doc.RootElement.GetProperty("sequences").GetInt64(), doc.RootElement.GetProperty("sequences_with_errors").GetInt64());
    }
}
