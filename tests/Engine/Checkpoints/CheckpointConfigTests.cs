using RawFlipFlop.Engine.Checkpoints;

namespace RawFlipFlop.Tests.Engine.Checkpoints;

/// <summary>A checkpoint whose model configuration is hostile: refused with the file named, before anything is sized from it.</summary>
[Trait("Category", "Cpu")]
public class CheckpointConfigTests
{
    [Theory]
    [InlineData("null", "config metadata is JSON null")]
    [InlineData("[1]", "config metadata: ")]
    [InlineData("not json", "config metadata: ")]
    [InlineData("{\"model\": 5}", "config metadata: ")]
    [InlineData("{\"model\": \"transformer\", \"layers\": 1e40}", "config metadata: ")]
    [InlineData("{\"model\": \"transformer\", \"layers\": -1, \"dim\": 8, \"heads\": 2, \"max_length\": 8}", "layers: must be at least 1")]
    [InlineData("{\"model\": \"\\u001b[2Jevil\"}", "model: must be")]
    public void A_bad_config_names_the_file(string config, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File("m.safetensors");
        SafeTensors.Write(path, [SafeTensor.FromFloats("x", [1], [0f])], new Dictionary<string, string> { [Checkpoint.ConfigKey] = config });
        var e = Assert.Throws<SafeTensorsException>(() => Checkpoint.Load(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\u001b', e.Message);
    }
}
