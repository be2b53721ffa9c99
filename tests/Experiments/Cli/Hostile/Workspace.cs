using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Data.Sqlite;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Experiments.Cli.Hostile;

/// <summary>A temporary directory with the valid and hostile files a case needs, and a snapshot of everything in it.</summary>
public sealed class Workspace : IDisposable
{
    readonly TempDir _dir = new();

    public string Root => _dir.Path;
    public string this[string name] => Path.Combine(_dir.Path, name);

    public string Text(string name, string content) { File.WriteAllText(this[name], content); return this[name]; }
    public string Bytes(string name, byte[] content) { File.WriteAllBytes(this[name], content); return this[name]; }
    public string Directory(string name) { System.IO.Directory.CreateDirectory(this[name]); return this[name]; }

    /// <summary>A valid flip-flop text file: 4 sequences of length 16.</summary>
    public string FlipFlopText(string name = "ok.txt") { FlipFlopFiles.Write(this[name], Sample(4, 16)); return this[name]; }

    /// <summary>A valid flip-flop Parquet file: 4 sequences of length 16.</summary>
    public string FlipFlopParquet(string name = "ok.parquet") { FlipFlopFiles.Write(this[name], Sample(4, 16)); return this[name]; }

    static FlipFlopDataset Sample(int count, int length) =>
        new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.5)).SampleMany(3, RandomDomain.Dataset, 0, count, length);

    /// <summary>A valid checkpoint of a tiny LSTM (embed 4, hidden 4) or Transformer (L1 d8 H2, T 16).</summary>
    public string Checkpoint(string name = "model.safetensors", bool transformer = false)
    {
        using var device = new CpuDevice();
        var config = transformer ? ModelConfig.Transformer(1, 8, 2, 16) : ModelConfig.Lstm(4, 4);
        using var model = ModelFactory.Create(config, new CpuOps<float>(device));
        model.Initialize(1);
        RawFlipFlop.Engine.Checkpoints.Checkpoint.Save(model, this[name]);
        return this[name];
    }

    /// <summary>A safetensors file from a raw header text and data bytes (the 8-byte size is computed unless given).</summary>
    public string SafeTensorsRaw(string name, string header, byte[]? data = null, ulong? headerSize = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        return SafeTensorsBytes(name, h, data ?? [], headerSize);
    }

    public string SafeTensorsBytes(string name, byte[] header, byte[] data, ulong? headerSize = null)
    {
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, headerSize ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        return Bytes(name, bytes);
    }

    /// <summary>The header text and data of a valid LSTM checkpoint, for mutations.</summary>
    public (string Header, byte[] Data) CheckpointParts()
    {
        var bytes = File.ReadAllBytes(Checkpoint("base.safetensors"));
        File.Delete(this["base.safetensors"]);
        int size = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        return (Encoding.UTF8.GetString(bytes, 8, size), bytes[(8 + size)..]);
    }

    /// <summary>A valid results store holding one finished run.</summary>
    public string Store(string name = "results.db")
    {
        var spec = ExperimentCatalog.ByName("lstm").Runs(Scale.Quick, 1)[0];
        using (var store = ResultsStore.Open(this[name]))
        {
            store.Begin(spec, Scale.Quick, "cpu");
            store.Finish(spec.Id, new TrainingSummary
            {
                Status = RunStatus.Finished, Options = spec.Options, OptionsHash = OptionsSchema.Hash(spec.Options), Params = 1, Steps = 2,
                Backend = "cpu", Device = "cpu", FinalLoss = 0.5, Losses = [1, 0.5], TrainSeconds = 1, EvalSeconds = 1,
                Online = [new OnlineEvaluation(2, 10, 1, 1)], BestStep = 2, Eval = [new EvaluationRecord("sparse", Iterate.Final, 5, 10, 1, 1, 2)],
                EngineVersion = "test",
            });
        }
        SqliteConnection.ClearAllPools();
        return this[name];
    }

    /// <summary>A SQLite database of some other application.</summary>
    public string ForeignDatabase(string name = "foreign.db")
    {
        using (var db = new SqliteConnection($"Data Source={this[name]};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO customers VALUES (1, 'Ada');";
            cmd.ExecuteNonQuery();
        }
        return this[name];
    }

    /// <summary>A store in the previous engine's schema (tables without the marks).</summary>
    public string OldStore(string name = "old.db")
    {
        using (var db = new SqliteConnection($"Data Source={this[name]};Pooling=False"))
        {
            db.Open();
            using var cmd = db.CreateCommand();
            cmd.CommandText = """
                CREATE TABLE runs (id TEXT PRIMARY KEY, experiment TEXT, setting TEXT, replicate INTEGER, scale TEXT, config_json TEXT, options_json TEXT,
                  model_seed TEXT, data_seed TEXT, backend TEXT, engine_version TEXT, status TEXT, steps_done INTEGER, train_seconds REAL, updated TEXT);
                CREATE TABLE losses (run_id TEXT, step INTEGER, loss REAL NOT NULL);
                CREATE TABLE online (run_id TEXT, step INTEGER, reads INTEGER, errors INTEGER, sequences_with_errors INTEGER);
                CREATE TABLE evals (run_id TEXT, iterate TEXT, split TEXT, step INTEGER, sequences INTEGER, reads INTEGER, errors INTEGER, sequences_with_errors INTEGER);
                """;
            cmd.ExecuteNonQuery();
        }
        return this[name];
    }

    /// <summary>
    /// Every file and directory below the root with a content hash (links: their target), for "nothing changed" checks.
    /// A directory's claim (.rff/lock, .rff/lock.pid) is left out: a command that claims a run directory before it finds
    /// the input bad creates it, and it holds no output.
    /// </summary>
    public IReadOnlyDictionary<string, string> Snapshot()
    {
        var snapshot = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in System.IO.Directory.EnumerateFileSystemEntries(Root, "*", SearchOption.AllDirectories))
        {
            string key = Path.GetRelativePath(Root, entry);
            if (Path.GetFileName(Path.GetDirectoryName(key)) == ".rff" && Path.GetFileName(key) is "lock" or "lock.pid") continue;
            if (Path.GetFileName(key) == ".rff" && System.IO.Directory.GetFileSystemEntries(entry).All(e => Path.GetFileName(e) is "lock" or "lock.pid")) continue;
            var info = new FileInfo(entry);
            snapshot[key] = info.LinkTarget is { } target ? "link " + target
                : System.IO.Directory.Exists(entry) ? "dir"
                : Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(entry)));
        }
        return snapshot;
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _dir.Dispose();
    }
}
