using System.Text.Json;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Engine.Training.Tasks;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Engine.Data;

public sealed class TrainingDataFileTests
{
    [Fact]
    public void Each_epoch_is_a_seeded_permutation_of_the_file()
    {
        var e0 = DataFileOrder.Permutation(1000, 7, 0);
        Assert.Equal(Enumerable.Range(0, 1000), e0.Order());
        Assert.Equal(e0, DataFileOrder.Permutation(1000, 7, 0));
        Assert.NotEqual(e0, DataFileOrder.Permutation(1000, 7, 1));
        Assert.NotEqual(e0, DataFileOrder.Permutation(1000, 8, 0));
        Assert.NotEqual(Enumerable.Range(0, 1000), e0);
        // samples walk epoch 0 then epoch 1, whatever order they are asked for in (a resumed run starts midway)
        var order = new DataFileOrder(1000, 7);
        var e1 = DataFileOrder.Permutation(1000, 7, 1);
        Assert.Equal(e1[3], order.IndexOf(1003));
        Assert.Equal(e0[999], order.IndexOf(999));
        Assert.Equal(e1[0], order.IndexOf(1000));
        // roughly uniform: every position sees many different sequences over epochs
        var firsts = Enumerable.Range(0, 200).Select(e => DataFileOrder.Permutation(10, 1, e)[0]).ToList();
        Assert.All(Enumerable.Range(0, 10), i => Assert.InRange(firsts.Count(f => f == i), 8, 35));
    }

    [Fact]
    public void Batches_are_the_files_sequences_in_the_seeded_order_and_a_changed_file_is_refused()
    {
        using var dir = new TempDir();
        var data = new FlipFlopSampler(FlipFlopDistribution.Train).SampleMany(5, RandomDomain.Dataset, 0, 10, 16);
        FlipFlopFiles.Write(dir.File("train.txt"), data);
        var (file, read) = TrainingDataFile.Open(dir.File("train.txt"));
        Assert.Equal((10L, 16), (file.Sequences, file.Length));
        Assert.Equal(data.Tokens, read.Tokens);
        var options = new TrainOptions { Model = ModelConfig.Lstm(4, 4), Length = 16, Batch = 4, DataFile = file, DataSeed = 9 }.Validate();
        var task = new FlipFlopTask(options);
        var tokens = new byte[4 * 16];
        var targets = new int[4 * 16];
        var order = new DataFileOrder(10, 9);
        for (int step = 1; step <= 5; step++) // 20 samples: two epochs
        {
            task.SampleBatch(step, tokens, targets);
            for (int j = 0; j < 4; j++)
                Assert.Equal(data.Sequence(order.IndexOf((step - 1) * 4 + j)).ToArray(), tokens.AsSpan(j * 16, 16).ToArray());
        }
        Assert.Equal("data_file", Assert.Throws<InvalidOptionException>(() => (options with { Length = 32 }).Validate()).Field);
        File.AppendAllText(dir.File("train.txt"), "w0r0w0r0w0r0w0r0\n");
        Assert.Contains("changed since it was recorded", Assert.Throws<InvalidOptionException>(() => new FlipFlopTask(options)).Message);
    }

    [Fact]
    [Trait("Category", "Cpu")]
    public void Train_data_walks_the_file_reproducibly_and_records_it_in_the_options()
    {
        using var dir = new TempDir();
        var gen = CliRunner.Run("data", "generate", "--p-ignore", "0.8", "--count", "40", "--length", "16", "--seed", "3", "--out", dir.File("train.parquet"));
        Assert.True(gen.ExitCode == 0, gen.Err);
        string[] Train(string outDir, string dataSeed) =>
            ["train", "--model", "lstm", "--embed-dim", "4", "--hidden", "4", "--data", dir.File("train.parquet"), "--data-seed", dataSeed,
             "--batch", "4", "--steps", "15", "--eval-every", "0", "--offline", "none", "--quiet", "--out", dir.File(outDir)];
        foreach (var (run, seed) in new[] { ("a", "1"), ("b", "1"), ("c", "2") })
        {
            var r = CliRunner.Run(Train(run, seed));
            Assert.True(r.ExitCode == 0, r.Err);
        }
        JsonElement Summary(string run) => JsonDocument.Parse(File.ReadAllText(dir.File(run + "/summary.json"))).RootElement;
        double[] Losses(string run) => Summary(run).GetProperty("losses").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        Assert.Equal(Losses("a"), Losses("b"));
        Assert.NotEqual(Losses("a"), Losses("c"));
        var recorded = Summary("a").GetProperty("options").GetProperty("data_file");
        Assert.Equal(TrainingDataFile.Sha256Of(dir.File("train.parquet")), recorded.GetProperty("files")[0].GetProperty("sha256").GetString());
        Assert.Equal((40, 16), (recorded.GetProperty("sequences").GetInt32(), recorded.GetProperty("length").GetInt32()));
        Assert.Equal(16, Summary("a").GetProperty("options").GetProperty("length").GetInt32()); // --length follows the file
    }
}
