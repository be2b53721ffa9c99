using System.Text.Json;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Experiments.Cli;

[Trait("Category", "Cpu")]
public sealed class ModelCommandTests
{
    [Fact]
    public void ModelJsonPrintsThePapersCounts()
    {
        var t = CliRunner.Run("model", "--model", "transformer", "--layers", "6", "--dim", "512", "--heads", "8", "--json");
        Assert.Equal(0, t.ExitCode);
        using var doc = JsonDocument.Parse(t.Out);
        Assert.Equal(19_170_309, doc.RootElement.GetProperty("params").GetInt64());
        var tensors = doc.RootElement.GetProperty("tensors").EnumerateArray().ToList();
        Assert.Equal("tok_emb.weight", tensors[0].GetProperty("name").GetString());
        Assert.Equal([5, 512], tensors[0].GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()));
        long sum = tensors.Sum(e => e.GetProperty("shape").EnumerateArray().Aggregate(1L, (a, x) => a * x.GetInt32()));
        Assert.Equal(19_170_309, sum);

        var l = CliRunner.Run("model", "--model", "lstm", "--json");
        using var ldoc = JsonDocument.Parse(l.Out);
        Assert.Equal(133_381, ldoc.RootElement.GetProperty("params").GetInt64());

        var bad = CliRunner.Run("model", "--model", "transformer", "--dim", "10", "--heads", "3");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("--heads: 3 must divide dim (10)", bad.Err);
        Assert.Contains("--pos must be", CliRunner.Run("model", "--model", "transformer", "--pos", "xyz").Err);
    }

    [Theory]
    [InlineData("sinusoidal", "", "pos_emb.scale", "1", 19_170_309 - 512 * 512 + 1)]
    [InlineData("linear", "", "tok_emb.weight", "5,511", 19_170_309 - 512 * 512 - 5)]
    [InlineData("alibi", "", "pos_emb.weight", "512,512", 19_170_309)]
    [InlineData("alibi", "--no-abs-pos", "tok_emb.weight", "5,512", 19_170_309 - 512 * 512)]
    [InlineData("rope", "", "tok_emb.weight", "5,512", 19_170_309 - 512 * 512)]
    [InlineData("rope-full", "", "tok_emb.weight", "5,512", 19_170_309 - 512 * 512)]
    [InlineData("sinusoidal-fixed", "", "tok_emb.weight", "5,512", 19_170_309 - 512 * 512)]
    [InlineData("linear-add", "", "tok_emb.weight", "5,512", 19_170_309 - 512 * 512)]
    public void ModelJsonListsThePositionTensors(string pos, string flag, string tensor, string shape, long count)
    {
        var args = new List<string> { "model", "--model", "transformer", "--pos", pos, "--json" };
        if (flag.Length > 0) args.Add(flag);
        var r = CliRunner.Run([.. args]);
        Assert.True(r.ExitCode == 0, r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        Assert.Equal(count, doc.RootElement.GetProperty("params").GetInt64());
        var found = doc.RootElement.GetProperty("tensors").EnumerateArray().Single(t => t.GetProperty("name").GetString() == tensor);
        Assert.Equal(shape, string.Join(",", found.GetProperty("shape").EnumerateArray().Select(e => e.GetInt32())));
        Assert.Equal(flag.Length == 0 && pos == "alibi", doc.RootElement.GetProperty("tensors").EnumerateArray().Any(t => t.GetProperty("name").GetString() == "pos_emb.weight"));
    }

    [Fact]
    public void TrainWritesSummaryAndCheckpointThatEvalReads()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("train", "--model", "lstm", "--embed-dim", "16", "--hidden", "16", "--length", "32", "--steps", "20",
            "--lr", "1e-2", "--warmup", "2", "--eval-every", "10", "--eval-count", "50", "--offline", "sparse:100,dense:50", "--out", dir.Path, "--quiet");
        Assert.True(r.ExitCode == 0, r.Err);
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("summary.json")));
        var root = doc.RootElement;
        Assert.Equal(ParameterLayout.For(ModelConfig.Lstm(16, 16)).Count, root.GetProperty("params").GetInt64());
        Assert.Equal(20, root.GetProperty("steps").GetInt32());
        Assert.Equal(20, root.GetProperty("losses").GetArrayLength());
        Assert.Equal(root.GetProperty("losses")[19].GetDouble(), root.GetProperty("final_loss").GetDouble());
        Assert.True(root.GetProperty("train_seconds").GetDouble() > 0);
        var eval = root.GetProperty("eval").EnumerateArray().ToList();
        Assert.Equal(4, eval.Count); // (final, best) x (sparse, dense)
        Assert.All(eval, e =>
        {
            foreach (var key in new[] { "split", "sequences", "reads", "errors", "step", "iterate" }) Assert.True(e.TryGetProperty(key, out _), key);
        });
        Assert.Equal(2, root.GetProperty("online").GetArrayLength());
        Assert.True(File.Exists(dir.File("model.safetensors")));
        Assert.True(File.Exists(dir.File("best.safetensors")));

        var finalSparse = eval.First(e => e.GetProperty("iterate").GetString() == "final" && e.GetProperty("split").GetString() == "sparse");
        var ev = CliRunner.Run("eval", "--checkpoint", dir.File("model.safetensors"), "--split", "sparse", "--count", "100", "--length", "32", "--json");
        Assert.True(ev.ExitCode == 0, ev.Err);
        using var edoc = JsonDocument.Parse(ev.Out);
        Assert.Equal(finalSparse.GetProperty("reads").GetInt64(), edoc.RootElement.GetProperty("reads").GetInt64());
        Assert.Equal(finalSparse.GetProperty("errors").GetInt64(), edoc.RootElement.GetProperty("errors").GetInt64());

        var missing = CliRunner.Run("eval", "--checkpoint", dir.File("nope.safetensors"));
        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("no such checkpoint", missing.Err);
    }

    [Fact]
    public void GradsMatchOwnFiniteDifferences()
    {
        using var dir = new TempDir();
        using var device = new CpuDevice();
        var config = ModelConfig.Transformer(layers: 2, dim: 8, heads: 2, maxLength: 16, pos: PositionEncoding.Alibi);
        using (var m = ModelFactory.Create(config, new CpuOps<float>(device))) { m.Initialize(5); Checkpoint.Save(m, dir.File("m.safetensors")); }
        var data = new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.5)).SampleMany(9, RawFlipFlop.Kernels.Random.RandomDomain.Dataset, 0, 3, 16);
        FlipFlopFiles.Write(dir.File("batch.txt"), data);

        var r = CliRunner.Run("grads", "--checkpoint", dir.File("m.safetensors"), "--data", dir.File("batch.txt"), "--precision", "double", "--out", dir.File("g.safetensors"));
        Assert.True(r.ExitCode == 0, r.Err);
        var grads = SafeTensors.Read(dir.File("g.safetensors"));
        Assert.Equal([1], grads.Find("loss")!.Shape);
        Assert.Equal(ParameterLayout.For(config).Tensors.Count + 1, grads.Tensors.Count);

        // finite differences of the loss (computed independently through the double engine) on every 7th weight
        using var model = Checkpoint.LoadModel(dir.File("m.safetensors"), new CpuOps<double>(device));
        double Loss() => GradientDump.Compute(model, data, LossMode.Clean).Loss;
        Assert.Equal(grads.Find("loss")!.ToDoubles()[0], Loss(), 14);
        var parameters = model.Parameters.Span;
        foreach (var spec in model.Layout.Tensors)
        {
            var g = grads.Find(spec.Name)!.ToDoubles();
            Assert.Equal(spec.Shape, grads.Find(spec.Name)!.Shape);
            for (int i = 0; i < spec.Count; i += 7)
            {
                int k = (int)spec.Offset + i;
                double saved = parameters[k];
                parameters[k] = saved + 1e-5; double plus = Loss();
                parameters[k] = saved - 1e-5; double minus = Loss();
                parameters[k] = saved;
                double numeric = (plus - minus) / 2e-5;
                Assert.True(Math.Abs(numeric - g[i]) <= 1e-7 + 1e-5 * Math.Abs(numeric), $"{spec.Name}[{i}]: grads {g[i]}, finite difference {numeric}");
            }
        }

        // float output is F32 and agrees with the double one to single precision
        var f = CliRunner.Run("grads", "--checkpoint", dir.File("m.safetensors"), "--data", dir.File("batch.txt"), "--out", dir.File("gf.safetensors"));
        Assert.True(f.ExitCode == 0, f.Err);
        var gf = SafeTensors.Read(dir.File("gf.safetensors"));
        Assert.Equal(SafeTensorType.F32, gf.Find("head.weight")!.Type);
        Assert.Equal(grads.Find("loss")!.ToDoubles()[0], gf.Find("loss")!.ToDoubles()[0], tolerance: 2e-6);
    }

    [Fact]
    public void GradsRejectsBadInputWithClearMessages()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("bad.txt"), "w1r1\nw1r0\n");
        using var device = new CpuDevice();
        using (var m = ModelFactory.Create(ModelConfig.Lstm(4, 4), new CpuOps<float>(device))) { m.Initialize(1); Checkpoint.Save(m, dir.File("m.safetensors")); }
        var r = CliRunner.Run("grads", "--checkpoint", dir.File("m.safetensors"), "--data", dir.File("bad.txt"), "--out", dir.File("g.safetensors"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("bad.txt", r.Err);
        Assert.Contains("line 2", r.Err);
        Assert.False(File.Exists(dir.File("g.safetensors")));
        File.WriteAllText(dir.File("junk.safetensors"), "not a safetensors file at all");
        File.WriteAllText(dir.File("ok.txt"), "w1r1\n");
        var j = CliRunner.Run("grads", "--checkpoint", dir.File("junk.safetensors"), "--data", dir.File("ok.txt"), "--out", dir.File("g.safetensors"));
        Assert.Equal(2, j.ExitCode);
        Assert.Contains("junk.safetensors", j.Err);
    }
}
