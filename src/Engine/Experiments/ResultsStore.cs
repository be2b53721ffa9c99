using System.Globalization;
using Microsoft.Data.Sqlite;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Engine.Experiments;

/// <summary>One run's row in the results store; <see cref="OptionsJson"/> is the canonical JSON of its <see cref="TrainOptions"/>.</summary>
public sealed record RunRecord(string Id, string Experiment, string Setting, int Replicate, string Scale, string OptionsJson, string OptionsHash,
    ulong ModelSeed, ulong DataSeed, string Backend, string EngineVersion, RunStatus Status, int StepsDone, double TrainSeconds, string Updated)
{
    public TrainOptions Options(string source) => OptionsSchema.FromJson(OptionsJson, source);
}

/// <summary>A column of a store table: its name, SQLite type (INTEGER, REAL or TEXT) and whether it is NOT NULL.</summary>
public sealed record StoreColumn(string Name, string Type, bool NotNull);

/// <summary>A store table as exported: its columns and its rows (values long, double or string; null for NULL), in key order.</summary>
public sealed record StoreTable(string Name, IReadOnlyList<StoreColumn> Columns, IReadOnlyList<object?[]> Rows);

/// <summary>
/// A results store that cannot be used: not SQLite, damaged, another application's database, another schema version,
/// or a failed write (disk full). The message starts with the file. <see cref="InvalidData"/> tells a file the user
/// gave wrongly from a failure of the machine.
/// </summary>
public sealed class ResultsStoreException(string path, string problem, bool invalidData, Exception? inner = null)
    : IOException($"{path}: {problem}", inner)
{
    public bool InvalidData { get; } = invalidData;
}

/// <summary>
/// The results store: one SQLite file with every run (options and their hash, seeds, backend, engine version,
/// status), its loss curve, its online evaluation curve and its final and best-so-far offline evaluations per split.
/// The file is marked as ours (SQLite application_id) with a schema version (user_version): a store is opened for
/// writing by `experiment run` only when it is ours and of this version, or new; `report` and `export` open it
/// read-only. Shards write their own file; <see cref="MergeInto"/> combines them into a new file published atomically.
/// </summary>
public sealed class ResultsStore : IDisposable
{
    /// <summary>"RFFR": marks the SQLite file as a RawFlipFlop results store.</summary>
    public const int ApplicationId = 0x52464652;
    /// <summary>Version 2: options as canonical JSON with their hash; nullable losses (diverged runs); evaluations by
    /// dependency length and glitch records.</summary>
    public const int SchemaVersion = 2;

    const string Schema = """
        CREATE TABLE runs (
          id TEXT PRIMARY KEY, experiment TEXT NOT NULL, setting TEXT NOT NULL, replicate INTEGER NOT NULL, scale TEXT NOT NULL,
          options_json TEXT NOT NULL, options_hash TEXT NOT NULL, model_seed TEXT NOT NULL, data_seed TEXT NOT NULL,
          backend TEXT NOT NULL, engine_version TEXT NOT NULL, status TEXT NOT NULL, steps_done INTEGER NOT NULL,
          train_seconds REAL NOT NULL, updated TEXT NOT NULL);
        CREATE TABLE losses (run_id TEXT NOT NULL, step INTEGER NOT NULL, loss REAL, PRIMARY KEY (run_id, step));
        CREATE TABLE online (run_id TEXT NOT NULL, step INTEGER NOT NULL, reads INTEGER NOT NULL, errors INTEGER NOT NULL,
          sequences_with_errors INTEGER NOT NULL, PRIMARY KEY (run_id, step));
        CREATE TABLE evals (run_id TEXT NOT NULL, iterate TEXT NOT NULL, split TEXT NOT NULL, step INTEGER NOT NULL,
          sequences INTEGER NOT NULL, reads INTEGER NOT NULL, errors INTEGER NOT NULL, sequences_with_errors INTEGER NOT NULL,
          PRIMARY KEY (run_id, iterate, split));
        CREATE TABLE eval_buckets (run_id TEXT NOT NULL, iterate TEXT NOT NULL, split TEXT NOT NULL, min_length INTEGER NOT NULL,
          max_length INTEGER NOT NULL, reads INTEGER NOT NULL, errors INTEGER NOT NULL, PRIMARY KEY (run_id, iterate, split, min_length));
        CREATE TABLE diagnostics (run_id TEXT NOT NULL, step INTEGER NOT NULL, name TEXT NOT NULL, value REAL, PRIMARY KEY (run_id, step, name));
        CREATE TABLE glitches (run_id TEXT NOT NULL, iterate TEXT NOT NULL, split TEXT NOT NULL, sequence INTEGER NOT NULL,
          position INTEGER NOT NULL, dependency INTEGER NOT NULL, predicted INTEGER NOT NULL, p_correct REAL,
          PRIMARY KEY (run_id, iterate, split, sequence, position));
        """;

    static readonly string[] Tables = ["runs", "losses", "online", "evals", "eval_buckets", "glitches", "diagnostics"];

    /// <summary>The tables holding one row set per run (everything but runs), for deleting and copying a run.</summary>
    static readonly string[] RunTables = ["losses", "online", "evals", "eval_buckets", "glitches", "diagnostics"];

    readonly SqliteConnection _db;

    ResultsStore(string path, SqliteConnection db)
    {
        Path = path;
        _db = db;
    }

    public string Path { get; }

    /// <summary>Opens a store for writing, creating it when the file is missing or empty; refuses any other file.</summary>
    public static ResultsStore Open(string path)
    {
        if (Directory.Exists(path)) throw new ResultsStoreException(path, "is a directory, not a results store", invalidData: true);
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        var store = Connect(path, SqliteOpenMode.ReadWriteCreate);
        try
        {
            // Under a write lock, so that two processes starting on one new store do not both create it.
            store.Guard(() =>
            {
                using var tx = store._db.BeginTransaction();
                if (store.Scalar("PRAGMA application_id") == 0 && store.Strings("SELECT name FROM sqlite_master").Count == 0)
                    store.Execute($"PRAGMA application_id = {ApplicationId}; PRAGMA user_version = {SchemaVersion}; {Schema}");
                tx.Commit();
            });
            store.CheckSchema();
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Opens an existing store for reading only; nothing is ever written to it.</summary>
    public static ResultsStore OpenReadOnly(string path)
    {
        if (Directory.Exists(path)) throw new ResultsStoreException(path, "is a directory, not a results store", invalidData: true);
        if (!File.Exists(path)) throw new ResultsStoreException(path, "no such results store", invalidData: true);
        if (new FileInfo(path).Length == 0) throw new ResultsStoreException(path, "is empty, not a results store", invalidData: true);
        var store = Connect(path, SqliteOpenMode.ReadOnly);
        try
        {
            store.CheckSchema();
            return store;
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    static ResultsStore Connect(string path, SqliteOpenMode mode)
    {
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, Mode = mode, DefaultTimeout = 60 }.ToString());
        var store = new ResultsStore(path, db);
        store.Guard(db.Open);
        return store;
    }

    /// <summary>Refuses a file that is not a results store of this schema version, naming what it is instead.</summary>
    void CheckSchema()
    {
        long applicationId = Guard(() => Scalar("PRAGMA application_id"));
        long version = Guard(() => Scalar("PRAGMA user_version"));
        var tables = Guard(() => Strings("SELECT name FROM sqlite_master WHERE type = 'table'"));
        if (applicationId != ApplicationId)
        {
            if (tables.Contains("runs") && tables.Contains("evals"))
                throw new ResultsStoreException(Path, "written by an older RawFlipFlop (schema 1); its runs cannot be resumed or reported by this " +
                                                      "version: run the experiment into a new directory", invalidData: true);
            throw new ResultsStoreException(Path, tables.Count == 0 ? "an empty SQLite database, not a results store"
                : $"a SQLite database of another application (tables {string.Join(", ", tables.Take(5))}), not a results store", invalidData: true);
        }
        if (version != SchemaVersion)
            throw new ResultsStoreException(Path, $"results store schema {version}; this version of RawFlipFlop reads schema {SchemaVersion}", invalidData: true);
        var missing = Tables.Where(t => !tables.Contains(t)).ToList();
        if (missing.Count > 0)
            throw new ResultsStoreException(Path, $"damaged results store: table {string.Join(", ", missing)} missing", invalidData: true);
    }

    /// <summary>Runs a store operation, turning SQLite's failures into <see cref="ResultsStoreException"/>s that name the file.</summary>
    T Guard<T>(Func<T> operation)
    {
        try { return operation(); }
        catch (SqliteException e)
        {
            var (problem, invalid) = e.SqliteErrorCode switch
            {
                26 => ("not a SQLite database (nor a results store)", true),                  // SQLITE_NOTADB
                11 => ("the database file is damaged (truncated or overwritten)", true),     // SQLITE_CORRUPT
                13 => ("the disk is full; nothing of this operation was written", false),    // SQLITE_FULL
                14 => ("cannot be opened (a directory, or no permission)", true),            // SQLITE_CANTOPEN
                8 => ("is read-only here", false),                                           // SQLITE_READONLY
                5 or 6 => ("is locked by another process for too long", false),              // SQLITE_BUSY, SQLITE_LOCKED
                _ => ($"SQLite error {e.SqliteErrorCode}: {e.Message}", false),
            };
            throw new ResultsStoreException(Path, problem, invalid, e);
        }
        catch (Exception e) when (e is FormatException or InvalidCastException or OverflowException or ArgumentException)
        {
            throw new ResultsStoreException(Path, $"damaged results store: {e.Message}", invalidData: true, e);
        }
    }

    void Guard(Action operation) => Guard(() => { operation(); return 0; });

    void Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        cmd.ExecuteNonQuery();
    }

    long Scalar(string sql)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        return Convert.ToInt64(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    List<string> Strings(string sql)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        using var reader = cmd.ExecuteReader();
        var list = new List<string>();
        while (reader.Read()) list.Add(reader.GetString(0));
        return list;
    }

    static string Now => DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);

    static string Text(RunStatus status) => EnumText<RunStatus>.Of(status);

    /// <summary>Registers (or updates) a run as running.</summary>
    public void Begin(RunSpec spec, Scale scale, string backend) => Guard(() => Execute("""
        INSERT INTO runs VALUES ($id, $e, $s, $r, $scale, $options, $hash, $ms, $ds, $backend, $version, $status, 0, 0, $now)
        ON CONFLICT(id) DO UPDATE SET status = $status, backend = $backend, engine_version = $version, updated = $now
        """,
        ("$id", spec.Id), ("$e", spec.Experiment), ("$s", spec.Setting), ("$r", spec.Replicate), ("$scale", EnumText<Scale>.Of(scale)),
        ("$options", OptionsSchema.Canonical(spec.Options)), ("$hash", OptionsSchema.Hash(spec.Options)),
        ("$ms", spec.Options.Seed.ToString(CultureInfo.InvariantCulture)), ("$ds", spec.Options.DataSeed.ToString(CultureInfo.InvariantCulture)),
        ("$backend", backend), ("$version", EngineInfo.Version), ("$status", Text(RunStatus.Running)), ("$now", Now)));

    /// <summary>Records the progress of a run (at each checkpoint): its curves and diagnostics so far.</summary>
    public void Progress(string id, int steps, double trainSeconds, IReadOnlyList<double> losses, IReadOnlyList<OnlineEvaluation> online,
        IReadOnlyList<TrainingDiagnostics> diagnostics) =>
        Guard(() =>
        {
            using var tx = _db.BeginTransaction();
            WriteCurves(id, steps, trainSeconds, losses, online, diagnostics);
            tx.Commit();
        });

    /// <summary>Diagnostic names in the store: "attention_entropy.LAYER" and "norm.TENSOR".</summary>
    const string EntropyPrefix = "attention_entropy.", NormPrefix = "norm.";

    void WriteCurves(string id, int steps, double trainSeconds, IReadOnlyList<double> losses, IReadOnlyList<OnlineEvaluation> online,
        IReadOnlyList<TrainingDiagnostics> diagnostics)
    {
        Execute("DELETE FROM diagnostics WHERE run_id = $id", ("$id", id));
        foreach (var d in diagnostics)
        {
            var values = d.AttentionEntropy.Select((e, l) => (EntropyPrefix + l.ToString(CultureInfo.InvariantCulture), e))
                .Concat(d.WeightNorms.Select(kv => (NormPrefix + kv.Key, kv.Value)));
            foreach (var (name, value) in values)
                Execute("INSERT INTO diagnostics VALUES ($id, $step, $name, $value)",
                    ("$id", id), ("$step", d.Step), ("$name", name), ("$value", double.IsFinite(value) ? value : null));
        }
        Execute("UPDATE runs SET steps_done = $steps, train_seconds = $sec, updated = $now WHERE id = $id",
            ("$id", id), ("$steps", steps), ("$sec", trainSeconds), ("$now", Now));
        Execute("DELETE FROM losses WHERE run_id = $id", ("$id", id));
        Execute("DELETE FROM online WHERE run_id = $id", ("$id", id));
        using (var cmd = _db.CreateCommand())
        {
            cmd.CommandText = "INSERT INTO losses VALUES ($id, $step, $loss)";
            var pId = cmd.Parameters.Add("$id", SqliteType.Text); var pStep = cmd.Parameters.Add("$step", SqliteType.Integer);
            var pLoss = cmd.Parameters.Add("$loss", SqliteType.Real);
            pId.Value = id;
            for (int i = 0; i < losses.Count; i++)
            {
                pStep.Value = i + 1;
                pLoss.Value = double.IsFinite(losses[i]) ? losses[i] : DBNull.Value; // a diverged step: NULL, read back as NaN
                cmd.ExecuteNonQuery();
            }
        }
        foreach (var o in online)
            Execute("INSERT INTO online VALUES ($id, $step, $reads, $errors, $seq)",
                ("$id", id), ("$step", o.Step), ("$reads", o.Reads), ("$errors", o.Errors), ("$seq", o.SequencesWithErrors));
    }

    /// <summary>Records a run's final curves and offline evaluations and its status (finished or diverged).</summary>
    public void Finish(string id, TrainingSummary summary) => Guard(() =>
    {
        using var tx = _db.BeginTransaction();
        WriteCurves(id, summary.Steps, summary.TrainSeconds, summary.Losses, summary.Online, summary.Diagnostics);
        foreach (var table in new[] { "evals", "eval_buckets", "glitches" }) Execute($"DELETE FROM {table} WHERE run_id = $id", ("$id", id));
        foreach (var e in summary.Eval)
        {
            string iterate = EnumText<Iterate>.Of(e.Iterate);
            Execute("INSERT INTO evals VALUES ($id, $it, $split, $step, $seqs, $reads, $errors, $swe)",
                ("$id", id), ("$it", iterate), ("$split", e.Split), ("$step", e.Step), ("$seqs", e.Sequences),
                ("$reads", e.Reads), ("$errors", e.Errors), ("$swe", e.SequencesWithErrors));
            foreach (var b in e.ByDependency)
                Execute("INSERT INTO eval_buckets VALUES ($id, $it, $split, $min, $max, $reads, $errors)",
                    ("$id", id), ("$it", iterate), ("$split", e.Split), ("$min", b.Min), ("$max", b.Max), ("$reads", b.Reads), ("$errors", b.Errors));
            foreach (var g in e.Glitches)
                Execute("INSERT INTO glitches VALUES ($id, $it, $split, $seq, $pos, $dep, $pred, $p)",
                    ("$id", id), ("$it", iterate), ("$split", e.Split), ("$seq", g.Sequence), ("$pos", g.Position), ("$dep", g.Dependency),
                    ("$pred", g.Predicted), ("$p", double.IsFinite(g.PCorrect) ? g.PCorrect : null));
        }
        Execute("UPDATE runs SET status = $status, updated = $now WHERE id = $id", ("$id", id), ("$status", Text(summary.Status)), ("$now", Now));
        tx.Commit();
    });

    public RunRecord? Run(string id) => Runs().FirstOrDefault(r => r.Id == id);

    public IReadOnlyList<RunRecord> Runs() => Guard(() =>
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            SELECT id, experiment, setting, replicate, scale, options_json, options_hash, model_seed, data_seed, backend, engine_version,
                   status, steps_done, train_seconds, updated
            FROM runs ORDER BY experiment, setting, replicate
            """;
        using var reader = cmd.ExecuteReader();
        var list = new List<RunRecord>();
        while (reader.Read())
            list.Add(new RunRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), reader.GetString(4),
                reader.GetString(5), reader.GetString(6), ulong.Parse(reader.GetString(7), CultureInfo.InvariantCulture),
                ulong.Parse(reader.GetString(8), CultureInfo.InvariantCulture), reader.GetString(9), reader.GetString(10),
                EnumText<RunStatus>.Parse(reader.GetString(11), $"status of run {reader.GetString(0)}"),
                reader.GetInt32(12), reader.GetDouble(13), reader.GetString(14)));
        return (IReadOnlyList<RunRecord>)list;
    });

    /// <summary>Rows of a query over one run's id, mapped by <paramref name="map"/>.</summary>
    List<TRow> Query<TRow>(string sql, string id, Func<SqliteDataReader, TRow> map) => Guard(() =>
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$id", id);
        using var reader = cmd.ExecuteReader();
        var list = new List<TRow>();
        while (reader.Read()) list.Add(map(reader));
        return list;
    });

    public IReadOnlyList<double> Losses(string id) =>
        Query("SELECT loss FROM losses WHERE run_id = $id ORDER BY step", id, r => r.IsDBNull(0) ? double.NaN : r.GetDouble(0));

    public IReadOnlyList<OnlineEvaluation> Online(string id) =>
        Query("SELECT step, reads, errors, sequences_with_errors FROM online WHERE run_id = $id ORDER BY step", id,
            r => new OnlineEvaluation(r.GetInt32(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3)));

    /// <summary>A run's diagnostics per online evaluation, in step order.</summary>
    public IReadOnlyList<TrainingDiagnostics> Diagnostics(string id) =>
        Query("SELECT step, name, value FROM diagnostics WHERE run_id = $id ORDER BY step, name", id,
                r => (Step: r.GetInt32(0), Name: r.GetString(1), Value: r.IsDBNull(2) ? double.NaN : r.GetDouble(2)))
            .GroupBy(x => x.Step)
            .Select(g => new TrainingDiagnostics(g.Key,
                g.Where(x => x.Name.StartsWith(EntropyPrefix, StringComparison.Ordinal))
                    .OrderBy(x => int.Parse(x.Name[EntropyPrefix.Length..], CultureInfo.InvariantCulture)).Select(x => x.Value).ToList(),
                g.Where(x => x.Name.StartsWith(NormPrefix, StringComparison.Ordinal)).ToDictionary(x => x.Name[NormPrefix.Length..], x => x.Value)))
            .ToList();

    /// <summary>A run's offline evaluations with their dependency buckets and glitch records.</summary>
    public IReadOnlyList<EvaluationRecord> Evals(string id)
    {
        var buckets = Query("SELECT iterate, split, min_length, max_length, reads, errors FROM eval_buckets WHERE run_id = $id ORDER BY iterate, split, min_length",
            id, r => (Key: (r.GetString(0), r.GetString(1)), Bucket: new DependencyBucket(r.GetInt32(2), r.GetInt32(3), r.GetInt64(4), r.GetInt64(5))))
            .ToLookup(x => x.Key, x => x.Bucket);
        var glitches = Query("SELECT iterate, split, sequence, position, dependency, predicted, p_correct FROM glitches WHERE run_id = $id ORDER BY iterate, split, sequence, position",
            id, r => (Key: (r.GetString(0), r.GetString(1)),
                Glitch: new Glitch(r.GetInt64(2), r.GetInt32(3), r.GetInt32(4), r.GetInt32(5), r.IsDBNull(6) ? double.NaN : r.GetDouble(6))))
            .ToLookup(x => x.Key, x => x.Glitch);
        return Query("SELECT split, iterate, sequences, reads, errors, sequences_with_errors, step FROM evals WHERE run_id = $id ORDER BY iterate, split", id,
            r => new EvaluationRecord(r.GetString(0), EnumText<Iterate>.Parse(r.GetString(1), "iterate"), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4),
                r.GetInt64(5), r.GetInt64(6))
            {
                ByDependency = buckets[(r.GetString(1), r.GetString(0))].ToList(),
                Glitches = glitches[(r.GetString(1), r.GetString(0))].ToList(),
            });
    }

    /// <summary>Every glitch record of the store with its run, iterate and split, optionally of one run and split.</summary>
    public IReadOnlyList<(string Run, Iterate Iterate, string Split, Glitch Glitch)> Glitches(string? run = null, string? split = null) => Guard(() =>
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = """
            SELECT run_id, iterate, split, sequence, position, dependency, predicted, p_correct FROM glitches
            WHERE ($run IS NULL OR run_id = $run) AND ($split IS NULL OR split = $split)
            ORDER BY run_id, iterate, split, sequence, position
            """;
        cmd.Parameters.AddWithValue("$run", (object?)run ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$split", (object?)split ?? DBNull.Value);
        using var r = cmd.ExecuteReader();
        var list = new List<(string, Iterate, string, Glitch)>();
        while (r.Read())
            list.Add((r.GetString(0), EnumText<Iterate>.Parse(r.GetString(1), "iterate"), r.GetString(2),
                new Glitch(r.GetInt64(3), r.GetInt32(4), r.GetInt32(5), r.GetInt32(6), r.IsDBNull(7) ? double.NaN : r.GetDouble(7))));
        return (IReadOnlyList<(string, Iterate, string, Glitch)>)list;
    });

    /// <summary>
    /// Merges <paramref name="inputs"/> (and what <paramref name="target"/> holds already) into <paramref name="target"/>:
    /// every input is checked first, the merge is made in a staging copy and published with one rename, so the target
    /// is either untouched or complete. A run present in several stores: the one that ended (finished or diverged), else
    /// the most advanced. The same run with other options in two stores is refused, as is a target among the inputs.
    /// </summary>
    public static int MergeInto(string target, IReadOnlyList<string> inputs)
    {
        string Real(string p) => System.IO.Path.GetFullPath(File.Exists(p) ? new FileInfo(p).ResolveLinkTarget(true)?.FullName ?? p : p);
        foreach (var input in inputs)
            if (Real(input) == Real(target))
                throw new ResultsStoreException(target, $"is also one of the stores to merge ({input}); merge into a new file", invalidData: true);
        if (Directory.Exists(target)) throw new ResultsStoreException(target, "is a directory, not a results store", invalidData: true);
        foreach (var input in inputs) OpenReadOnly(input).Dispose();
        string temp = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(target))!,
            $".{System.IO.Path.GetFileName(target)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            if (File.Exists(target) && new FileInfo(target).Length > 0)
            {
                OpenReadOnly(target).Dispose();
                File.Copy(target, temp);
            }
            int runs;
            using (var store = Open(temp))
            {
                foreach (var input in inputs) store.MergeOne(input);
                runs = store.Runs().Count;
            }
            SqliteConnection.ClearAllPools();
            File.Move(temp, target, overwrite: true);
            return runs;
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    void MergeOne(string input) => Guard(() =>
    {
        Execute("ATTACH DATABASE $path AS other", ("$path", input));
        try
        {
            var conflicts = new List<string>();
            using (var cmd = _db.CreateCommand())
            {
                cmd.CommandText = "SELECT r.id FROM runs r JOIN other.runs o ON o.id = r.id WHERE o.options_hash <> r.options_hash ORDER BY r.id";
                using var reader = cmd.ExecuteReader();
                while (reader.Read()) conflicts.Add(reader.GetString(0));
            }
            if (conflicts.Count > 0)
                throw new ResultsStoreException(input, $"run {string.Join(", ", conflicts.Take(5))}{(conflicts.Count > 5 ? $" and {conflicts.Count - 5} more" : "")} " +
                                                       "has other options than in the stores before it: these are not shards of one experiment", invalidData: true);
            using var tx = _db.BeginTransaction();
            Execute("""
                DELETE FROM runs WHERE id IN (SELECT o.id FROM other.runs o JOIN runs r ON r.id = o.id
                  WHERE (o.status IN ('finished', 'diverged') AND r.status NOT IN ('finished', 'diverged'))
                     OR (o.status = r.status AND o.steps_done > r.steps_done));
                """ + string.Concat(RunTables.Select(t => $"DELETE FROM {t} WHERE run_id NOT IN (SELECT id FROM runs) AND run_id IN (SELECT id FROM other.runs);\n")) + """
                CREATE TEMP TABLE incoming AS SELECT id FROM other.runs WHERE id NOT IN (SELECT id FROM runs);
                INSERT INTO runs SELECT * FROM other.runs WHERE id IN (SELECT id FROM incoming);
                """ + string.Concat(RunTables.Select(t => $"INSERT INTO {t} SELECT * FROM other.{t} WHERE run_id IN (SELECT id FROM incoming);\n")) + """
                DROP TABLE incoming;
                """);
            tx.Commit();
        }
        finally { Execute("DETACH DATABASE other"); }
    });

    /// <summary>The flat CSV tables: file name and content (runs, evals, online, losses, eval_buckets, glitches).</summary>
    /// <summary>
    /// Every table in key order with its columns, their SQLite types (INTEGER, REAL, TEXT) and whether they are NOT NULL:
    /// what `experiment export` writes.
    /// </summary>
    public IReadOnlyList<StoreTable> ExportTables() => Guard(() =>
    {
        var tables = new List<StoreTable>();
        foreach (var (table, order) in new[] { ("runs", "id"), ("evals", "run_id, iterate, split"), ("online", "run_id, step"), ("losses", "run_id, step"),
                     ("eval_buckets", "run_id, iterate, split, min_length"), ("glitches", "run_id, iterate, split, sequence, position"),
                     ("diagnostics", "run_id, step, name") })
        {
            var columns = new List<StoreColumn>();
            using (var info = _db.CreateCommand())
            {
                info.CommandText = $"PRAGMA table_info({table})";
                using var reader = info.ExecuteReader();
                while (reader.Read()) columns.Add(new StoreColumn(reader.GetString(1), reader.GetString(2).ToUpperInvariant(), reader.GetInt64(3) != 0));
            }
            var rows = new List<object?[]>();
            using (var cmd = _db.CreateCommand())
            {
                cmd.CommandText = $"SELECT {string.Join(", ", columns.Select(c => c.Name))} FROM {table} ORDER BY {order}";
                using var reader = cmd.ExecuteReader();
                while (reader.Read())
                    rows.Add(Enumerable.Range(0, columns.Count).Select(i => reader.IsDBNull(i) ? null : reader.GetValue(i)).ToArray());
            }
            tables.Add(new StoreTable(table, columns, rows));
        }
        return (IReadOnlyList<StoreTable>)tables;
    });

    /// <summary>The tables as CSV text (header line, then one line per row; NULL as an empty field).</summary>
    public IReadOnlyList<(string Name, string Text)> CsvTables() => ExportTables().Select(t =>
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine(string.Join(",", t.Columns.Select(c => c.Name)));
        foreach (var row in t.Rows) text.AppendLine(string.Join(",", row.Select(v => Csv(v ?? DBNull.Value))));
        return (t.Name + ".csv", text.ToString());
    }).ToList();

    static string Csv(object value)
    {
        string s = value switch { double d => d.ToString("R", CultureInfo.InvariantCulture), DBNull => "", _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "" };
        return s.IndexOfAny([',', '"', '\n']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    }

    public void Dispose() => _db.Dispose();
}
