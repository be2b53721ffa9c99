namespace RawFlipFlop.Tests.Experiments.Cli.Hostile;

public sealed partial class HostileInputTests
{
    /// <summary>Results stores that are not ours, damaged or in the way, through every command that opens one.</summary>
    static IEnumerable<HostileCase> StoreCases()
    {
        var stores = new (string Name, int Exit, Func<Workspace, string> Make)[]
        {
            ("garbage", Invalid, w => w.Text("store.db", "this is not a database, it is a text file with enough bytes to look like one.....")),
            ("truncated", Invalid, w => { var b = File.ReadAllBytes(w.Store("src.db")); File.Delete(w["src.db"]); return w.Bytes("store.db", b[..1000]); }),
            ("zeroed pages", Invalid, w => { var b = File.ReadAllBytes(w.Store("src.db")); File.Delete(w["src.db"]); Array.Clear(b, 100, b.Length - 100); return w.Bytes("store.db", b); }),
            ("foreign SQLite", Invalid, w => { File.Move(w.ForeignDatabase(), w["store.db"]); return w["store.db"]; }),
            ("old schema", Invalid, w => { File.Move(w.OldStore(), w["store.db"]); return w["store.db"]; }),
            ("a directory", Invalid, w => w.Directory("store.db")),
        };
        foreach (var (what, exit, make) in stores)
        {
            yield return new($"experiment report: {what}", exit, "store.db", w => ["experiment", "report", "--db", make(w), "--out", w["report"]]);
            yield return new($"experiment export: {what}", exit, "store.db", w => ["experiment", "export", "--db", make(w), "--csv", "--out", w["csv"]]);
            yield return new($"experiment export --parquet: {what}", exit, "store.db", w => ["experiment", "export", "--db", make(w), "--parquet", "--out", w["pq"]]);
            yield return new($"experiment merge input: {what}", exit, "store.db", w => ["experiment", "merge", "--into", w["merged.db"], w.Store("a.db"), make(w)]);
            yield return new($"experiment merge target: {what}", exit, "store.db", w => ["experiment", "merge", "--into", make(w), w.Store("a.db")]);
            yield return new($"glitches list: {what}", exit, "store.db", w => ["glitches", "list", "--db", make(w)]);
            yield return new($"experiment run into: {what}", exit, "results.db", w =>
            {
                string dir = w.Directory("e");
                string store = make(w);
                if (Directory.Exists(store)) Directory.Move(store, Path.Combine(dir, "results.db"));
                else File.Move(store, Path.Combine(dir, "results.db"));
                return ["experiment", "run", "lstm", "--scale", "quick", "--replicates", "1", "--out", dir];
            });
        }
        yield return new("glitches list missing store", Invalid, "none.db", w => ["glitches", "list", "--db", w["none.db"]]);
        yield return new("glitches list --limit -1", Invalid, "--limit", w => ["glitches", "list", "--db", w.Store(), "--limit", "-1"]);
        yield return new("glitches list unknown run", Invalid, "--run", w => ["glitches", "list", "--db", w.Store(), "--run", "lstm/none/9"]);
        yield return new("experiment report missing store", Invalid, "none.db", w => ["experiment", "report", "--db", w["none.db"], "--out", w["report"]]);
        yield return new("experiment export missing store", Invalid, "none.db", w => ["experiment", "export", "--db", w["none.db"], "--csv", "--out", w["csv"]]);
        yield return new("experiment merge missing input", Invalid, "none.db", w => ["experiment", "merge", "--into", w["merged.db"], w["none.db"]]);
        yield return new("experiment merge into one of its inputs", Invalid, "a.db", w => ["experiment", "merge", "--into", w.Store("a.db"), w["a.db"]]);
        yield return new("experiment merge into an input through a link", Invalid, "a.db", w =>
        {
            w.Store("a.db");
            File.CreateSymbolicLink(w["link.db"], w["a.db"]);
            return ["experiment", "merge", "--into", w["link.db"], w["a.db"]];
        });
        yield return new("experiment merge conflicting options", Invalid, "b.db", w =>
        {
            w.Store("a.db");
            w.Store("b.db");
            using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={w["b.db"]};Pooling=False"))
            {
                db.Open();
                using var cmd = db.CreateCommand();
                cmd.CommandText = "UPDATE runs SET options_hash = 'other'";
                cmd.ExecuteNonQuery();
            }
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            return ["experiment", "merge", "--into", w["merged.db"], w["a.db"], w["b.db"]];
        });
        yield return new("experiment run into a store of other options", Invalid, "steps", w =>
        {
            string dir = w.Directory("e");
            File.Move(w.Store(), Path.Combine(dir, "results.db"));
            return ["experiment", "run", "lstm", "--scale", "paper", "--replicates", "1", "--out", dir];
        });
    }

    /// <summary>Outputs in the way: a file where a directory belongs, a busy directory, a state of other options.</summary>
    static IEnumerable<HostileCase> OutputCases()
    {
        yield return new("train --out is a file", Failure, "ok.txt", w => TinyTransformer(w)[..^1].Append(w.FlipFlopText()).ToArray());
        yield return new("train --out under a file", Failure, "ok.txt", w => TinyTransformer(w)[..^1].Append(Path.Combine(w.FlipFlopText(), "run")).ToArray());
        yield return new("experiment run --out is a file", Failure, "ok.txt", w => ["experiment", "run", "lstm", "--scale", "quick", "--out", w.FlipFlopText()]);
        yield return new("experiment report --out is a file", Failure, "ok.txt", w => ["experiment", "report", "--db", w.Store(), "--out", w.FlipFlopText()]);
        yield return new("experiment export --out is a file", Failure, "ok.txt", w => ["experiment", "export", "--db", w.Store(), "--csv", "--out", w.FlipFlopText()]);
        yield return new("train with a garbage state", Invalid, "state.safetensors", w =>
        {
            w.Directory("run");
            w.Text("run/state.safetensors", "garbage instead of a run state");
            return TinyTransformer(w);
        });
        yield return new("train with a truncated state", Invalid, "state.safetensors", w =>
        {
            var (h, d) = w.CheckpointParts();
            w.Directory("run");
            w.SafeTensorsRaw("run/state.safetensors", h, d[..10]);
            return TinyTransformer(w);
        });
        yield return new("experiment report with a damaged attention map", Invalid, "attention.safetensors", w =>
        {
            string store = w.Store();
            w.Directory("runs/lstm/lstm/0");
            w.SafeTensorsRaw("runs/lstm/lstm/0/attention.safetensors", "{\"paper_input\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", new byte[24]);
            return ["experiment", "report", "--db", store, "--out", w["report"]];
        });
        yield return new("train into a state of other options", Invalid, "seed", w =>
        {
            // a run of seed 1 was interrupted here: its state must not be lost to a run of seed 2
            using (var device = new RawFlipFlop.Kernels.Devices.CpuDevice())
            using (var backend = new RawFlipFlop.Engine.Training.Backend("cpu", device, new RawFlipFlop.Kernels.Cpu.CpuOps<float>(device)))
            using (var dir = RawFlipFlop.Engine.Training.RunDirectory.Open(w["run"]))
            using (var cancel = new CancellationTokenSource())
            {
                var options = new RawFlipFlop.Engine.Training.TrainOptions
                {
                    Model = RawFlipFlop.Engine.Models.ModelConfig.Transformer(1, 8, 2, 16), Length = 16, Batch = 2, Steps = 2, EvalEvery = 1,
                    Offline = [], Seed = 1,
                };
                try
                {
                    new RawFlipFlop.Engine.Training.TrainingJob(options, backend).Run(dir, 
                        new RawFlipFlop.Engine.Training.SyncProgress<RawFlipFlop.Engine.Training.JobEvent>(e => { if (e.Training is { Step: 1 }) cancel.Cancel(); }), cancel.Token);
                }
                catch (OperationCanceledException) { }
            }
            return TinyTransformer(w, "--seed", "2");
        });
    }
}
