using System.Diagnostics;
using System.Text.Json;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Experiments.Cli;

/// <summary>
/// `export` and `import`: round trips give back bit-identical parameters; the x-transformers names, the refused encodings,
/// a foreign file without our metadata read with the model options.
/// </summary>
[Trait("Category", "Cpu")]
public sealed class ExportCommandTests
{
    /// <summary>Tiny models of every encoding x-transformers expresses (rope needs d_h &gt;= 32), and the LSTM.</summary>
    public static TheoryData<string> Expressible => new(Configs.Where(c => StateDicts.Unsupported(c.Value, StateDictFormat.XTransformers) == null).Select(c => c.Key));

    public static TheoryData<string> All => new(Configs.Keys);

    internal static readonly Dictionary<string, ModelConfig> Configs = new()
    {
        ["learned"] = ModelConfig.Transformer(2, 16, 2, 16),
        ["sinusoidal"] = ModelConfig.Transformer(2, 16, 2, 16, PositionEncoding.Sinusoidal),
        ["rope"] = ModelConfig.Transformer(2, 64, 2, 16, PositionEncoding.Rope),              // d_h 32: the whole head turns
        ["rope-partial"] = ModelConfig.Transformer(1, 64, 1, 16, PositionEncoding.Rope),      // d_h 64: 32 dims turn, 32 pass
        ["alibi"] = ModelConfig.Transformer(2, 16, 2, 16, PositionEncoding.Alibi),
        ["alibi-noabs-h3"] = ModelConfig.Transformer(2, 12, 3, 16, PositionEncoding.Alibi, useAbsPosEmb: false),
        ["none"] = ModelConfig.Transformer(2, 16, 2, 16, PositionEncoding.None),
        ["linear"] = ModelConfig.Transformer(2, 16, 2, 16, PositionEncoding.Linear),
        ["rope-full"] = ModelConfig.Transformer(2, 16, 2, 16, PositionEncoding.RopeFull),
        ["sinusoidal-fixed"] = ModelConfig.Transformer(2, 16, 2, 16, PositionEncoding.SinusoidalFixed),
        ["linear-add"] = ModelConfig.Transformer(2, 16, 2, 16, PositionEncoding.LinearAdd),
        ["rope-narrow"] = ModelConfig.Transformer(2, 16, 2, 16, PositionEncoding.Rope),       // d_h 8: x-transformers would turn 32
        ["lstm"] = ModelConfig.Lstm(8, 8),
    };

    /// <summary>A checkpoint of the configuration with random weights (initialisation plus noise, so norms and biases are not trivial).</summary>
    internal static string Checkpoint(TempDir dir, string name, ModelConfig config, int seed = 7)
    {
        using var device = new CpuDevice();
        using var model = ModelFactory.Create(config, new CpuOps<float>(device));
        model.Initialize((ulong)seed);
        var host = device.ToArray(model.Parameters);
        var random = new Random(seed);
        for (int i = 0; i < host.Length; i++) host[i] += (float)(0.1 * (random.NextDouble() * 2 - 1));
        device.Upload<float>(host, model.Parameters);
        string path = dir.File(name + ".safetensors");
        RawFlipFlop.Engine.Checkpoints.Checkpoint.Save(model, path);
        return path;
    }

    static void AssertSameParameters(string expected, string actual)
    {
        var a = RawFlipFlop.Engine.Checkpoints.Checkpoint.Load(expected);
        var b = RawFlipFlop.Engine.Checkpoints.Checkpoint.Load(actual);
        Assert.Equal(a.Config, b.Config);
        Assert.Equal(a.Parameters.Length, b.Parameters.Length);
        for (int i = 0; i < a.Parameters.Length; i++)
            Assert.True(BitConverter.DoubleToInt64Bits(a.Parameters[i]) == BitConverter.DoubleToInt64Bits(b.Parameters[i]), $"parameter {i}: {a.Parameters[i]:R} != {b.Parameters[i]:R}");
    }

    [Theory]
    [MemberData(nameof(All))]
    public void Pytorch_format_round_trips_bit_identically(string name)
    {
        using var dir = new TempDir();
        string original = Checkpoint(dir, name, Configs[name]);
        var export = CliRunner.Run("export", "--checkpoint", original, "--format", "pytorch", "--out", dir.File("sd.safetensors"));
        Assert.True(export.ExitCode == 0, export.Err);
        var import = CliRunner.Run("import", "--checkpoint", dir.File("sd.safetensors"), "--format", "pytorch", "--out", dir.File("back.safetensors"));
        Assert.True(import.ExitCode == 0, import.Err);
        AssertSameParameters(original, dir.File("back.safetensors"));
    }

    [Theory]
    [MemberData(nameof(Expressible))]
    public void X_transformers_format_round_trips_bit_identically(string name)
    {
        using var dir = new TempDir();
        string original = Checkpoint(dir, name, Configs[name]);
        var export = CliRunner.Run("export", "--checkpoint", original, "--format", "x-transformers", "--out", dir.File("xt.safetensors"));
        Assert.True(export.ExitCode == 0, export.Err);
        Assert.StartsWith("TransformerWrapper(num_tokens=5, max_seq_len=16, ", export.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1]);
        var import = CliRunner.Run("import", "--checkpoint", dir.File("xt.safetensors"), "--format", "x-transformers", "--out", dir.File("back.safetensors"));
        Assert.True(import.ExitCode == 0, import.Err);
        AssertSameParameters(original, dir.File("back.safetensors"));
    }

    [Fact]
    public void X_transformers_names_and_constructor_of_the_baseline_layout()
    {
        var config = ModelConfig.Transformer(2, 16, 2, 16);
        var names = StateDicts.Map(config, StateDictFormat.XTransformers).Select(m => m.Name).ToArray();
        Assert.Equal(
        [
            "token_emb.emb.weight", "pos_emb.emb.weight",
            "attn_layers.layers.0.0.0.weight", "attn_layers.layers.0.0.0.bias",
            "attn_layers.layers.0.1.to_q.weight", "attn_layers.layers.0.1.to_k.weight", "attn_layers.layers.0.1.to_v.weight", "attn_layers.layers.0.1.to_out.weight",
            "attn_layers.layers.1.0.0.weight", "attn_layers.layers.1.0.0.bias",
            "attn_layers.layers.1.1.ff.0.0.weight", "attn_layers.layers.1.1.ff.0.0.bias", "attn_layers.layers.1.1.ff.3.weight", "attn_layers.layers.1.1.ff.3.bias",
            "attn_layers.layers.2.0.0.weight", "attn_layers.layers.2.0.0.bias",
            "attn_layers.layers.2.1.to_q.weight", "attn_layers.layers.2.1.to_k.weight", "attn_layers.layers.2.1.to_v.weight", "attn_layers.layers.2.1.to_out.weight",
            "attn_layers.layers.3.0.0.weight", "attn_layers.layers.3.0.0.bias",
            "attn_layers.layers.3.1.ff.0.0.weight", "attn_layers.layers.3.1.ff.0.0.bias", "attn_layers.layers.3.1.ff.3.weight", "attn_layers.layers.3.1.ff.3.bias",
            "attn_layers.final_norm.weight", "attn_layers.final_norm.bias", "to_logits.weight", "to_logits.bias",
        ], names);
        Assert.Equal("TransformerWrapper(num_tokens=5, max_seq_len=16, attn_layers=Decoder(dim=16, depth=2, heads=2, attn_dim_head=8))",
            StateDicts.Constructor(config, StateDictFormat.XTransformers));
        Assert.Equal("TransformerWrapper(num_tokens=5, max_seq_len=16, scaled_sinu_pos_emb=True, attn_layers=Decoder(dim=16, depth=2, heads=2, attn_dim_head=8))",
            StateDicts.Constructor(Configs["sinusoidal"], StateDictFormat.XTransformers));
        Assert.Equal("TransformerWrapper(num_tokens=5, max_seq_len=16, attn_layers=Decoder(dim=64, depth=2, heads=2, attn_dim_head=32, rotary_pos_emb=True))",
            StateDicts.Constructor(Configs["rope"], StateDictFormat.XTransformers));
        Assert.Equal("TransformerWrapper(num_tokens=5, max_seq_len=16, use_abs_pos_emb=False, attn_layers=Decoder(dim=12, depth=2, heads=3, attn_dim_head=4, alibi_pos_bias=True, alibi_num_heads=3))",
            StateDicts.Constructor(Configs["alibi-noabs-h3"], StateDictFormat.XTransformers));
        Assert.Equal("TransformerWrapper(num_tokens=5, max_seq_len=16, use_abs_pos_emb=False, attn_layers=Decoder(dim=16, depth=2, heads=2, attn_dim_head=8))",
            StateDicts.Constructor(Configs["none"], StateDictFormat.XTransformers));
        // rope's persistent buffer: 10000^(-2i/rot) over rot = 32 dims
        var buffer = Assert.Single(StateDicts.Buffers(Configs["rope-partial"], StateDictFormat.XTransformers));
        Assert.Equal("attn_layers.rotary_pos_emb.inv_freq", buffer.Name);
        Assert.Equal([16], buffer.Shape);
    }

    [Theory]
    [InlineData("linear", "position encoding linear")]
    [InlineData("linear-add", "position encoding linear-add")]
    [InlineData("rope-full", "position encoding rope-full")]
    [InlineData("sinusoidal-fixed", "position encoding sinusoidal-fixed")]
    [InlineData("rope-narrow", "d_h = 8 < 32")]
    [InlineData("lstm", "x-transformers has no LSTM")]
    public void Encodings_x_transformers_cannot_express_are_refused(string name, string reason)
    {
        using var dir = new TempDir();
        string original = Checkpoint(dir, name, Configs[name]);
        var export = CliRunner.Run("export", "--checkpoint", original, "--format", "x-transformers", "--out", dir.File("xt.safetensors"));
        Assert.Equal(2, export.ExitCode);
        Assert.Contains("error: --format x-transformers: ", export.Err);
        Assert.Contains(reason, export.Err);
        Assert.False(File.Exists(dir.File("xt.safetensors")));
    }

    [Fact]
    public void A_foreign_file_without_our_metadata_is_read_with_the_model_options()
    {
        using var dir = new TempDir();
        var config = Configs["alibi"];
        string original = Checkpoint(dir, "alibi", config);
        var loaded = RawFlipFlop.Engine.Checkpoints.Checkpoint.Load(original);
        SafeTensors.Write(dir.File("foreign.safetensors"), StateDicts.Export(loaded, StateDictFormat.XTransformers)); // no __metadata__
        var without = CliRunner.Run("import", "--checkpoint", dir.File("foreign.safetensors"), "--format", "x-transformers", "--out", dir.File("back.safetensors"));
        Assert.Equal(2, without.ExitCode);
        Assert.Contains("--model", without.Err);
        var with = CliRunner.Run("import", "--checkpoint", dir.File("foreign.safetensors"), "--format", "x-transformers",
            "--model", "transformer", "--layers", "2", "--dim", "16", "--heads", "2", "--pos", "alibi", "--out", dir.File("back.safetensors"));
        Assert.True(with.ExitCode == 0, with.Err);
        AssertSameParameters(original, dir.File("back.safetensors")); // max_length 16 from pos_emb.emb.weight
        // options that disagree with a file's own configuration are refused
        CliRunner.Run("export", "--checkpoint", original, "--format", "x-transformers", "--out", dir.File("xt.safetensors"));
        var disagree = CliRunner.Run("import", "--checkpoint", dir.File("xt.safetensors"), "--format", "x-transformers",
            "--model", "transformer", "--layers", "2", "--dim", "16", "--heads", "2", "--pos", "learned", "--out", dir.File("other.safetensors"));
        Assert.Equal(2, disagree.ExitCode);
        Assert.Contains("--model", disagree.Err);
    }
}

/// <summary>
/// PyTorch (Debian's python3-torch) loads every exported file with strict=True into the module tree its printed
/// constructor builds (tests/pytorch/xt_module_tree.py) and reproduces the engine's logits to 1e-5. Skipped with the
/// reason where /usr/bin/python3 has no torch; under RFF_REQUIRE_TOOLCHAIN=1 (CI) a missing torch fails instead.
/// </summary>
[Trait("Category", "Cpu")]
public sealed class ExportPyTorchTests(ITestOutputHelper log)
{
    const string Python = "/usr/bin/python3";
    static readonly Lazy<string?> TorchMissing = new(() =>
    {
        if (!File.Exists(Python)) return $"{Python} not found (install python3-torch)";
        var (code, output) = RunProcess(Python, ["-c", "import torch"]);
        return code == 0 ? null : $"{Python} cannot import torch (install python3-torch): {output.Trim().Split('\n')[^1]}";
    });

    static void RequireTorch()
    {
        if (TorchMissing.Value is not { } reason) return;
        if (Environment.GetEnvironmentVariable("RFF_REQUIRE_TOOLCHAIN") == "1") Assert.Fail($"RFF_REQUIRE_TOOLCHAIN=1 but: {reason}");
        Assert.Skip(reason);
    }

    static (int Code, string Output) RunProcess(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }

    public static TheoryData<string> Cases => new(CaseNames);
    static readonly string[] CaseNames = ["learned", "sinusoidal", "rope", "rope-partial", "alibi", "alibi-noabs-h3", "none", "lstm"];

    /// <summary>Every case exported and run through the engine, then checked by one Python process (torch starts once).</summary>
    static readonly Lazy<(Dictionary<string, JsonElement> Reports, string Output)> Checked = new(() =>
    {
        var dir = new TempDir();   // removed with the process's temp files; the reports are kept in memory
        var manifest = new List<object>();
        var data = new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.5)).SampleMany(11, RandomDomain.Dataset, 0, 4, 16);
        FlipFlopFiles.Write(dir.File("seqs.txt"), data);
        foreach (var name in CaseNames)
        {
            var config = ExportCommandTests.Configs[name];
            string checkpoint = ExportCommandTests.Checkpoint(dir, name, config);
            string state = dir.File(name + ".export.safetensors"), logitsFile = dir.File(name + ".logits.safetensors");
            var export = CliRunner.Run("export", "--checkpoint", checkpoint, "--format", config.IsLstm ? "pytorch" : "x-transformers", "--out", state);
            if (export.ExitCode != 0) throw new InvalidOperationException($"export {name}: {export.Err}");
            // the engine's float32 logits on a few flip-flop sequences
            using (var device = new CpuDevice())
            using (var model = RawFlipFlop.Engine.Checkpoints.Checkpoint.LoadModel(checkpoint, new CpuOps<float>(device)))
            {
                var tokens = device.AllocateFrom<int>(data.Tokens.Select(x => (int)x).ToArray());
                var logits = device.ToArray(model.Forward(tokens, data.Count, data.Length, PassOptions.Evaluation));
                device.Free(tokens);
                SafeTensors.Write(logitsFile, [SafeTensor.FromFloats("logits", [data.Count, data.Length, config.VocabSize], logits)]);
            }
            manifest.Add(new { name, state, constructor = export.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1].Trim(), tokens = dir.File("seqs.txt"), logits = logitsFile });
        }
        File.WriteAllText(dir.File("manifest.json"), JsonSerializer.Serialize(manifest));
        string script = Path.Combine(AppContext.BaseDirectory, "pytorch", "xt_module_tree.py");
        var (_, output) = RunProcess(Python, [script, "--manifest", dir.File("manifest.json"), "--tolerance", "1e-5"]);
        var reports = new Dictionary<string, JsonElement>();
        foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!line.TrimStart().StartsWith('{')) continue;
            var e = JsonDocument.Parse(line).RootElement.Clone();
            reports[e.GetProperty("name").GetString()!] = e;
        }
        dir.Dispose();
        return (reports, output);
    });

    [Theory]
    [MemberData(nameof(Cases))]
    public void PyTorch_loads_the_export_strictly_and_reproduces_the_logits(string name)
    {
        RequireTorch();
        var (reports, output) = Checked.Value;
        Assert.True(reports.TryGetValue(name, out var report), $"no report for {name}:\n{output}");
        log.WriteLine(report.ToString());
        Assert.True(report.GetProperty("passed").GetBoolean(), report.ToString());
        Assert.True(report.GetProperty("strict_load").GetBoolean());
        Assert.True(report.GetProperty("max_abs_diff").GetDouble() <= 1e-5, report.ToString());
    }
}
