using System.Text.Json;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Tests.Engine.Training;

/// <summary>Attention entropy per layer and weight-matrix norms at every online evaluation, in summary.json and the store.</summary>
[Trait("Category", "Cpu")]
public sealed class DiagnosticsTests
{
    static List<TrainingDiagnostics> FromSummary(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return JsonSerializer.Deserialize<List<TrainingDiagnostics>>(doc.RootElement.GetProperty("diagnostics").GetRawText(), Json.Options)!;
    }

    [Fact]
    public void Every_online_evaluation_records_entropy_per_layer_and_the_norms_of_the_final_weights()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("train", "--model", "transformer", "--layers", "2", "--dim", "16", "--heads", "2", "--length", "32", "--batch", "4",
            "--steps", "12", "--lr", "3e-3", "--warmup", "2", "--eval-every", "4", "--eval-count", "8", "--offline", "none", "--quiet", "--out", dir.Path);
        Assert.True(r.ExitCode == 0, r.Err);
        var diagnostics = FromSummary(dir.File("summary.json"));
        Assert.Equal([4, 8, 12], diagnostics.Select(d => d.Step));
        Assert.All(diagnostics, d =>
        {
            Assert.Equal(2, d.AttentionEntropy.Count);
            // a causal row i has i + 1 keys: its entropy lies in [0, log(i + 1)] <= log 32
            Assert.All(d.AttentionEntropy, e => Assert.InRange(e, 0.0, Math.Log(32)));
        });
        // the last evaluation is after the last step: its norms are the final checkpoint's
        var model = SafeTensors.Read(dir.File("model.safetensors"));
        var last = diagnostics[^1].WeightNorms;
        Assert.Equal(model.Tensors.Where(t => t.Shape.Length == 2).Select(t => t.Name).Order(), last.Keys.Order());
        foreach (var t in model.Tensors.Where(t => t.Shape.Length == 2))
            Assert.Equal(Math.Sqrt(t.ToDoubles().Sum(x => x * x)), last[t.Name], 9);
    }

    [Fact]
    public void The_store_keeps_the_diagnostics_of_each_run_and_the_lstm_has_no_attention()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("experiment", "run", "lstm", "--scale", "quick", "--replicates", "1", "--out", dir.Path);
        Assert.True(r.ExitCode == 0, r.Err);
        using var store = ResultsStore.OpenReadOnly(dir.File("results.db"));
        var stored = store.Diagnostics("lstm/lstm/0");
        var summary = FromSummary(dir.File("runs/lstm/lstm/0/summary.json"));
        Assert.Equal(summary, stored);
        Assert.Equal(3, stored.Count);
        Assert.All(stored, d => Assert.Empty(d.AttentionEntropy));
        Assert.Contains("lstm.weight_hh_l0", stored[0].WeightNorms.Keys);
    }
}
