using System.Text.Json;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Engine.Checkpoints;

/// <summary>
/// config_version: the names rope, sinusoidal, alibi and linear meant other encodings in configurations written before
/// version 2 (which carry no version). Those keep their meaning when read from checkpoints and run options; configurations
/// whose meaning did not change keep the JSON (and the options hash) they always had.
/// </summary>
[Trait("Category", "Cpu")]
public sealed class ConfigVersionTests
{
    const string Head = "\"model\":\"transformer\",\"vocab_size\":5,\"layers\":2,\"dim\":16,\"heads\":2,\"max_length\":16";

    static ModelConfig Read(string json) => JsonSerializer.Deserialize<ModelConfig>(json, Json.Options)!;

    [Theory]
    [InlineData("rope", PositionEncoding.RopeFull, null)]
    [InlineData("sinusoidal", PositionEncoding.SinusoidalFixed, null)]
    [InlineData("linear", PositionEncoding.LinearAdd, null)]
    [InlineData("alibi", PositionEncoding.Alibi, false)]
    [InlineData("learned", PositionEncoding.Learned, null)]
    [InlineData("none", PositionEncoding.None, null)]
    public void Version_1_names_keep_their_old_meaning(string pos, PositionEncoding expected, bool? absolute)
    {
        var config = Read($"{{{Head},\"pos\":\"{pos}\",\"linear_pos_divisor\":16}}").Validate();
        Assert.Equal(expected, config.Position);
        Assert.Equal(absolute, config.UseAbsPosEmb);
        // an explicit version 1 reads the same
        Assert.Equal(config, Read($"{{{Head},\"pos\":\"{pos}\",\"linear_pos_divisor\":16,\"config_version\":1}}"));
    }

    [Theory]
    [InlineData("rope", PositionEncoding.Rope)]
    [InlineData("sinusoidal", PositionEncoding.Sinusoidal)]
    [InlineData("linear", PositionEncoding.Linear)]
    [InlineData("alibi", PositionEncoding.Alibi)]
    public void Version_2_names_mean_what_they_say(string pos, PositionEncoding expected)
    {
        var config = Read($"{{{Head},\"pos\":\"{pos}\",\"linear_pos_divisor\":16,\"config_version\":2}}").Validate();
        Assert.Equal(expected, config.Position);
        Assert.Null(config.UseAbsPosEmb);
    }

    [Fact]
    public void Every_configuration_round_trips_and_only_changed_names_carry_the_version()
    {
        foreach (var pos in Enum.GetValues<PositionEncoding>())
            foreach (bool? absolute in pos == PositionEncoding.Alibi ? new bool?[] { null, false } : [null])
            {
                var config = ModelConfig.Transformer(2, 16, 2, 16, pos, useAbsPosEmb: absolute).Validate();
                string json = Json.Serialize(config);
                Assert.Equal(config, Read(json));
                bool changedName = pos is PositionEncoding.Rope or PositionEncoding.Sinusoidal or PositionEncoding.Alibi or PositionEncoding.Linear;
                Assert.Equal(changedName, json.Contains("\"config_version\": 2", StringComparison.Ordinal));
            }
        // what version 1 wrote for the baseline, to the byte: run options holding it keep their hash
        Assert.Equal($"{{{Head},\"pos\":\"learned\"}}", JsonSerializer.Serialize(ModelConfig.Transformer(2, 16, 2, 16), Json.Compact));
        Assert.Equal($"{{{Head},\"pos\":\"rope\",\"config_version\":2}}",
            JsonSerializer.Serialize(ModelConfig.Transformer(2, 16, 2, 16, PositionEncoding.Rope), Json.Compact));
        Assert.Equal($"{{{Head},\"pos\":\"alibi\",\"use_abs_pos_emb\":false,\"config_version\":2}}",
            JsonSerializer.Serialize(ModelConfig.Transformer(2, 16, 2, 16, PositionEncoding.Alibi, useAbsPosEmb: false), Json.Compact));
        // an old rope read back is written under its name now
        Assert.Equal($"{{{Head},\"pos\":\"rope-full\"}}", JsonSerializer.Serialize(Read($"{{{Head},\"pos\":\"rope\"}}"), Json.Compact));
    }

    [Theory]
    [InlineData("3", "config_version 3")]
    [InlineData("0", "config_version 0")]
    [InlineData("\"2\"", "config metadata: ")]
    public void Other_versions_are_refused_naming_the_file(string version, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        SafeTensors.Write(path, [SafeTensor.FromFloats("x", [1], [0f])],
            new Dictionary<string, string> { [Checkpoint.ConfigKey] = $"{{{Head},\"pos\":\"rope\",\"config_version\":{version}}}" });
        var e = Assert.Throws<SafeTensorsException>(() => Checkpoint.Load(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(expected, e.Message);
    }

    /// <summary>A checkpoint of a model saved with the configuration JSON version 1 wrote for its encoding.</summary>
    static string WriteTheOldWay(TempDir dir, ModelBase<double> model, string oldConfig)
    {
        string path = dir.File("new.safetensors"), old = dir.File("old.safetensors");
        Checkpoint.Save(model, path);
        var contents = SafeTensors.Read(path);
        SafeTensors.Write(old, contents.Tensors.Select(t => SafeTensor.FromFloats(t.Name, t.Shape, t.ToDoubles().Select(v => (float)v).ToArray())),
            new Dictionary<string, string> { [Checkpoint.ConfigKey] = oldConfig, ["format"] = "pt" });
        return old;
    }

    [Theory]
    [InlineData(PositionEncoding.RopeFull, null, "rope")]
    [InlineData(PositionEncoding.SinusoidalFixed, null, "sinusoidal")]
    [InlineData(PositionEncoding.LinearAdd, null, "linear")]
    [InlineData(PositionEncoding.Alibi, false, "alibi")]
    public void A_checkpoint_written_the_old_way_computes_what_it_did(PositionEncoding now, bool? absolute, string oldName)
    {
        using var dir = new TempDir();
        using var device = new CpuDevice();
        var ops = new CpuOps<double>(device);
        var config = ModelConfig.Transformer(2, 16, 2, 16, now, useAbsPosEmb: absolute);
        using var model = ModelFactory.Create(config, ops);
        model.Initialize(5);
        // weights a float checkpoint holds exactly, so the loaded model computes the same doubles
        device.Upload<double>(device.ToArray(model.Parameters).Select(v => (double)(float)v).ToArray(), model.Parameters);
        string divisor = oldName == "linear" ? ",\"linear_pos_divisor\":16" : "";
        string path = WriteTheOldWay(dir, model, $"{{{Head},\"pos\":\"{oldName}\"{divisor}}}");

        using var loaded = Checkpoint.LoadModel(path, ops);
        Assert.Equal(config, loaded.Config);
        var tokens = device.AllocateFrom<int>(ModelGradientTestsBatch());
        var expected = device.ToArray(model.Forward(tokens, 2, 16, PassOptions.Evaluation));
        var actual = device.ToArray(loaded.Forward(tokens, 2, 16, PassOptions.Evaluation));
        Assert.Equal(expected, actual);
    }

    static int[] ModelGradientTestsBatch() => RawFlipFlop.Tests.Engine.Models.ModelGradientTests.Batch(2, 16, LossMode.Clean).Tokens;

    [Fact]
    public void Old_run_options_read_with_their_meaning_and_differ_from_the_new_default()
    {
        var requested = new TrainOptions { Model = ModelConfig.Transformer(2, 16, 2, 16, PositionEncoding.Rope), Length = 16 };
        // the options as version 1 wrote them into summary.json, the results store and the resume state
        string old = OptionsSchema.Canonical(requested).Replace(",\"config_version\":2", "", StringComparison.Ordinal);
        var stored = OptionsSchema.FromJson(old, "store.db");
        Assert.Equal(PositionEncoding.RopeFull, stored.Model.Position);
        Assert.Contains("model.pos: \"rope-full\" there, \"rope\" now", OptionsSchema.Differences(stored, requested));
        // a baseline's options are what they were, to the hash
        var baseline = new TrainOptions { Model = ModelConfig.Transformer(2, 16, 2, 16), Length = 16 };
        Assert.Equal(OptionsSchema.Hash(baseline), OptionsSchema.Hash(OptionsSchema.FromJson(OptionsSchema.Canonical(baseline), "x")));
        Assert.DoesNotContain("config_version", OptionsSchema.Canonical(baseline), StringComparison.Ordinal);
    }
}
