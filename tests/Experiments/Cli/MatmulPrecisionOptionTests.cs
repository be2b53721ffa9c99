using System.Text.Json;

namespace RawFlipFlop.Tests.Experiments.Cli;

[Trait("Category", "Cpu")]
public sealed class MatmulPrecisionOptionTests
{
    static string[] Train(TempDir dir, string run, params string[] extra) =>
        ["train", "--model", "transformer", "--layers", "1", "--dim", "8", "--heads", "2", "--length", "16", "--steps", "3", "--batch", "2",
         "--eval-every", "0", "--offline", "none", "--quiet", "--out", dir.File(run), .. extra];

    [Fact]
    public void Train_records_the_precision_and_auto_is_fp32_on_the_cpu()
    {
        using var dir = new TempDir();
        foreach (var (run, extra) in new[] { ("auto", Array.Empty<string>()), ("fp32", ["--matmul-precision", "fp32"]), ("tf32", ["--matmul-precision", "tf32"]) })
        {
            var r = CliRunner.Run(Train(dir, run, extra));
            Assert.True(r.ExitCode == 0, r.Err);
        }
        JsonElement Options(string run) => JsonDocument.Parse(File.ReadAllText(dir.File(run + "/summary.json"))).RootElement.GetProperty("options");
        // fp32 is left out of the options (absent means fp32), so fp32 runs keep their hashes
        Assert.False(Options("auto").TryGetProperty("matmul_precision", out _));
        Assert.Equal(Options("auto").GetRawText(), Options("fp32").GetRawText());
        Assert.Equal("tf32", Options("tf32").GetProperty("matmul_precision").GetString());
        double Loss(string run) => JsonDocument.Parse(File.ReadAllText(dir.File(run + "/summary.json"))).RootElement.GetProperty("final_loss").GetDouble();
        Assert.NotEqual(Loss("fp32"), Loss("tf32"));
        Assert.Equal(Loss("fp32"), Loss("tf32"), 2);
        // a run resumes only in its own precision
        var again = CliRunner.Run(Train(dir, "tf32", "--matmul-precision", "3xtf32"));
        Assert.Equal(0, again.ExitCode); // a finished run with a summary is not resumed; the state check applies to killed runs
    }
}
