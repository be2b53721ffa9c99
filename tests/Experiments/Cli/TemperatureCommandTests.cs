using System.Text.Json;
using RawFlipFlop.Engine.Analysis;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Experiments.Cli;

/// <summary>The temperature probe (`eval --attention-temperature`, `inspect temperature`) on the quick baseline, which makes errors.</summary>
[Trait("Category", "Cpu")]
[Collection(QuickBaselineCollection.Name)]
public sealed class TemperatureCommandTests(QuickBaselineFixture baseline)
{
    string Model => baseline.Dir.File("b/runs/baseline/baseline/0/model.safetensors");

    static long Errors(CliRunner.Result r)
    {
        Assert.True(r.ExitCode == 0, r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        return doc.RootElement.GetProperty("errors").GetInt64();
    }

    [Fact]
    public void Temperature_one_is_the_trained_model_and_softer_attention_misreads_more()
    {
        using var device = new CpuDevice();
        using var model = (TransformerModel<float>)Checkpoint.LoadModel(Model, new CpuOps<float>(device));
        var data = EvaluationSets.Sparse.Generate(300, 64);
        List<TemperaturePoint> Probe(IReadOnlyList<int>? layers) =>
            TemperatureProbe.Run(model, [("sparse", data)], [0.25f, 1f, 16f], layers, 50);
        var all = Probe(null);
        using (var evaluator = new Evaluator<float>(model, 50, 64))
            Assert.Equal(evaluator.Evaluate("sparse", data).Report().Errors, all[1].Errors); // T = 1: the same bits as a plain evaluation
        Assert.True(all[2].Errors > all[1].Errors, $"T 16: {all[2].Errors} errors, T 1: {all[1].Errors}");
        // layer 0 sees the same inputs at every temperature: its entropy grows with T (a softmax's entropy does)
        Assert.True(all[0].AttentionEntropy[0] < all[1].AttentionEntropy[0] && all[1].AttentionEntropy[0] < all[2].AttentionEntropy[0],
            string.Join(", ", all.Select(p => p.AttentionEntropy[0])));
        // the temperature in layer 1 only leaves layer 0 as trained
        var second = Probe([1]);
        Assert.All(second, p => Assert.Equal(all[1].AttentionEntropy[0], p.AttentionEntropy[0]));
        Assert.NotEqual(all[1].AttentionEntropy[1], second[2].AttentionEntropy[1]);
    }

    [Fact]
    public void Inspect_temperature_writes_the_curve_and_eval_agrees_at_each_temperature()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("inspect", "temperature", "--checkpoint", Model, "--values", "4,1,0.5", "--splits", "sparse", "--count", "200",
            "--length", "64", "--out", dir.File("t"));
        Assert.True(r.ExitCode == 0, r.Err);
        foreach (var f in new[] { "temperature.png", "temperature.svg", "temperature-entropy.png", "temperature-entropy.svg", "temperature.json" })
            Assert.True(File.ReadAllBytes(dir.File("t/" + f)).Length > 200, f);
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("t/temperature.json")));
        var points = doc.RootElement.GetProperty("points").EnumerateArray().ToList();
        Assert.Equal([4.0, 1.0, 0.5], points.Select(p => p.GetProperty("temperature").GetDouble()));
        Assert.All(points, p => Assert.Equal(2, p.GetProperty("attention_entropy").GetArrayLength()));
        foreach (var p in points)
        {
            string t = p.GetProperty("temperature").GetDouble().ToString(System.Globalization.CultureInfo.InvariantCulture);
            var eval = CliRunner.Run("eval", "--checkpoint", Model, "--split", "sparse", "--count", "200", "--length", "64", "--attention-temperature", t, "--json");
            Assert.Equal(p.GetProperty("errors").GetInt64(), Errors(eval));
        }
        Assert.Equal(Errors(CliRunner.Run("eval", "--checkpoint", Model, "--split", "sparse", "--count", "200", "--length", "64", "--json")),
                     points[1].GetProperty("errors").GetInt64());
    }
}
