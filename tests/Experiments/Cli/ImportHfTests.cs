using System.Text.Json;
using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Tests.Experiments.Cli;

/// <summary>
/// `data import-hf` on snapshots in the layout of synthseq/flipflop (no network here: the shards are made by data
/// generate), and the registered sets in eval, train and inspect temperature.
/// </summary>
public sealed class ImportHfTests
{
    /// <summary>A snapshot: DIR/data/SPLIT-0000i-of-0000n-HASH.parquet, train in two shards.</summary>
    static string Snapshot(TempDir dir, string name = "snap")
    {
        string data = dir.File(name + "/data");
        Directory.CreateDirectory(data);
        void Shard(string file, string p, int count, int seed)
        {
            var r = CliRunner.Run("data", "generate", "--p-ignore", p, "--count", count.ToString(), "--length", "16", "--seed", seed.ToString(), "--out", Path.Combine(data, file));
            Assert.True(r.ExitCode == 0, r.Err);
        }
        Shard("train-00000-of-00002-b4ca3240.parquet", "0.8", 30, 1);
        Shard("train-00001-of-00002-bf5f7777.parquet", "0.8", 20, 2);
        Shard("val-00000-of-00001-fec0c03d.parquet", "0.8", 12, 3);
        Shard("val_dense-00000-of-00001-cd57636c.parquet", "0.1", 8, 4);
        Shard("val_sparse-00000-of-00001-1fcf6593.parquet", "0.98", 10, 5);
        File.WriteAllText(dir.File(name + "/README.md"), "dataset card");
        return dir.File(name);
    }

    [Fact]
    [Trait("Category", "Cpu")]
    public void A_snapshot_is_validated_described_registered_and_usable_by_name()
    {
        using var dir = new TempDir();
        string snapshot = Snapshot(dir), registry = dir.File("splits.json");
        var r = CliRunner.Run("data", "import-hf", snapshot, "--registry", registry, "--json");
        Assert.True(r.ExitCode == 0, r.Err);
        var rows = JsonDocument.Parse(r.Out).RootElement.EnumerateArray().ToList();
        Assert.Equal(["hf-train", "hf-val", "hf-val_dense", "hf-val_sparse"], rows.Select(x => x.GetProperty("name").GetString()));
        Assert.Equal([50, 12, 8, 10], rows.Select(x => x.GetProperty("sequences").GetInt32()));
        Assert.Equal(2, rows[0].GetProperty("shards").GetInt32());
        Assert.True(rows[2].GetProperty("p_ignore").GetDouble() < rows[3].GetProperty("p_ignore").GetDouble());
        var registered = SplitRegistry.Read(registry);
        Assert.Equal(50, registered["hf-train"].Load().Count);
        Environment.SetEnvironmentVariable("RFF_SPLITS", registry);
        try
        {
            // the train split's shards are concatenated in order: the first shard's sequences come first
            var first = FlipFlopFiles.Read(Path.Combine(snapshot, "data/train-00000-of-00002-b4ca3240.parquet"));
            Assert.Equal(first.Tokens, registered["hf-train"].Load().Tokens.AsSpan(0, first.Tokens.Length).ToArray());
            using var workspace = new Hostile.Workspace();
            string model = workspace.Checkpoint();
            var eval = CliRunner.Run("eval", "--checkpoint", model, "--split", "hf-val_sparse", "--json");
            Assert.True(eval.ExitCode == 0, eval.Err);
            Assert.Equal(10, JsonDocument.Parse(eval.Out).RootElement.GetProperty("sequences").GetInt32());
            var train = CliRunner.Run("train", "--model", "lstm", "--embed-dim", "4", "--hidden", "4", "--data", "hf-train", "--batch", "4",
                "--steps", "3", "--eval-every", "0", "--offline", "none", "--quiet", "--out", dir.File("run"));
            Assert.True(train.ExitCode == 0, train.Err);
            var files = JsonDocument.Parse(File.ReadAllText(dir.File("run/summary.json"))).RootElement.GetProperty("options").GetProperty("data_file").GetProperty("files");
            Assert.Equal(2, files.GetArrayLength());
            // a shard changed after registration is refused by name
            File.AppendAllText(Path.Combine(snapshot, "data/val-00000-of-00001-fec0c03d.parquet"), "x");
            var changed = CliRunner.Run("eval", "--checkpoint", model, "--split", "hf-val");
            Assert.Equal(2, changed.ExitCode);
            Assert.Contains("val-00000-of-00001-fec0c03d.parquet changed", changed.Err);
        }
        finally { Environment.SetEnvironmentVariable("RFF_SPLITS", null); }
    }

    [Fact]
    public void Incomplete_or_inconsistent_snapshots_are_refused_by_name()
    {
        using var dir = new TempDir();
        string Fail(string snapshot)
        {
            var r = CliRunner.Run("data", "import-hf", snapshot, "--registry", dir.File("splits.json"));
            Assert.Equal(2, r.ExitCode);
            Assert.False(File.Exists(dir.File("splits.json")), "nothing registered");
            return r.Err;
        }
        string a = Snapshot(dir, "a");
        File.Delete(Path.Combine(a, "data/train-00001-of-00002-bf5f7777.parquet"));
        Assert.Contains("split train lacks shard 00001-of-00002", Fail(a));
        string b = Snapshot(dir, "b");
        File.Delete(Path.Combine(b, "data/val_dense-00000-of-00001-cd57636c.parquet"));
        Assert.Contains("no val_dense-*-of-*.parquet shards", Fail(b));
        string c = Snapshot(dir, "c");
        File.WriteAllText(Path.Combine(c, "data/val-00000-of-00001-fec0c03d.parquet"), "not parquet");
        Assert.Contains("val-00000-of-00001-fec0c03d.parquet", Fail(c));
        string d = Snapshot(dir, "d");
        File.Copy(Path.Combine(d, "data/val-00000-of-00001-fec0c03d.parquet"), Path.Combine(d, "data/val-00000-of-00002-aaaa.parquet"));
        Assert.Contains("numbered of", Fail(d));
        Assert.Contains("no such directory", Fail(dir.File("missing")));
        File.WriteAllText(dir.File("bad.json"), "{not json");
        var r = CliRunner.Run("data", "import-hf", Snapshot(dir, "e"), "--registry", dir.File("bad.json"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("not a split registry", r.Err);
        Assert.Equal("{not json", File.ReadAllText(dir.File("bad.json")));
    }
}
