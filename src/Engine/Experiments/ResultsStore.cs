using System.Globalization;
using Microsoft.Data.Sqlite;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Engine.Experiments;

/// <summary>One run's row in the results store; <see cref="OptionsJson"/> is the canonical JSON of its <see cref="TrainOptions"/>.</summary>
public sealed record RunRecord(string Id, string Experiment, string Setting, int Replicate, string Scale, string OptionsJson, string OptionsHash,
    ulong ModelSeed, ulong DataSeed, string Backend, string EngineVersion, RunStatus Status, int StepsDone, double TrainSeconds, string Updated)
{
    public TrainOptions Options(string source) => OptionsSchema.FromJson(OptionsJson, source);
}

/// <summary>
/// The results store: one SQLite file with every run (configuration, seeds, backend, engine version, status),
/// its loss curve, its online evaluation curve and its final and best-so-far offline evaluations per split.
/// Shards write their own file; <see cref="Merge"/> combines them.
/// </summary>
public sealed class ResultsStore : IDisposable
{
    readonly SqliteConnection _db;

    public ResultsStore(string path)
    {
        Path = path;
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _db.Open();
        Execute("""
            PRAGMA journal_mode = DELETE;
            CREATE TABLE IF NOT EXISTS runs (
              id TEXT PRIMARY KEY, experiment TEXT NOT NULL, setting TEXT NOT NULL, replicate INTEGER NOT NULL, scale TEXT NOT NULL,
              options_json TEXT NOT NULL, options_hash TEXT NOT NULL, model_seed TEXT NOT NULL, data_seed TEXT NOT NULL,
              backend TEXT NOT NULL, engine_version TEXT NOT NULL, status TEXT NOT NULL, steps_done INTEGER NOT NULL,
              train_seconds REAL NOT NULL, updated TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS losses (run_id TEXT NOT NULL, step INTEGER NOT NULL, loss REAL, PRIMARY KEY (run_id, step));
            CREATE TABLE IF NOT EXISTS online (run_id TEXT NOT NULL, step INTEGER NOT NULL, reads INTEGER NOT NULL, errors INTEGER NOT NULL,
              sequences_with_errors INTEGER NOT NULL, PRIMARY KEY (run_id, step));
            CREATE TABLE IF NOT EXISTS evals (run_id TEXT NOT NULL, iterate TEXT NOT NULL, split TEXT NOT NULL, step INTEGER NOT NULL,
              sequences INTEGER NOT NULL, reads INTEGER NOT NULL, errors INTEGER NOT NULL, sequences_with_errors INTEGER NOT NULL,
              PRIMARY KEY (run_id, iterate, split));
            """);
    }

    public string Path { get; }

    void Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        cmd.ExecuteNonQuery();
    }

    static string Now => DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture);

    static string Text(RunStatus status) => EnumText<RunStatus>.Of(status);

    /// <summary>Registers (or updates) a run as running.</summary>
    public void Begin(RunSpec spec, Scale scale, string backend)
    {
        Execute("""
            INSERT INTO runs VALUES ($id, $e, $s, $r, $scale, $options, $hash, $ms, $ds, $backend, $version, $status, 0, 0, $now)
            ON CONFLICT(id) DO UPDATE SET status = $status, backend = $backend, engine_version = $version, updated = $now
            """,
            ("$id", spec.Id), ("$e", spec.Experiment), ("$s", spec.Setting), ("$r", spec.Replicate), ("$scale", EnumText<Scale>.Of(scale)),
            ("$options", OptionsSchema.Canonical(spec.Options)), ("$hash", OptionsSchema.Hash(spec.Options)),
            ("$ms", spec.Options.Seed.ToString(CultureInfo.InvariantCulture)), ("$ds", spec.Options.DataSeed.ToString(CultureInfo.InvariantCulture)),
            ("$backend", backend), ("$version", EngineInfo.Version), ("$status", Text(RunStatus.Running)), ("$now", Now));
    }

    /// <summary>Records the progress of a run (at each checkpoint): its curves so far.</summary>
    public void Progress(string id, int steps, double trainSeconds, IReadOnlyList<double> losses, IReadOnlyList<OnlineEvaluation> online)
    {
        using var tx = _db.BeginTransaction();
        WriteCurves(id, steps, trainSeconds, losses, online);
        tx.Commit();
    }

    void WriteCurves(string id, int steps, double trainSeconds, IReadOnlyList<double> losses, IReadOnlyList<OnlineEvaluation> online)
    {
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
            for (int i = 0; i < losses.Count; i++) { pStep.Value = i + 1; pLoss.Value = losses[i]; cmd.ExecuteNonQuery(); }
        }
        foreach (var o in online)
            Execute("INSERT INTO online VALUES ($id, $step, $reads, $errors, $seq)",
                ("$id", id), ("$step", o.Step), ("$reads", o.Reads), ("$errors", o.Errors), ("$seq", o.SequencesWithErrors));
    }

    /// <summary>Records a run's final curves and offline evaluations and its status (finished or diverged).</summary>
    public void Finish(string id, TrainingSummary summary)
    {
        using var tx = _db.BeginTransaction();
        WriteCurves(id, summary.Steps, summary.TrainSeconds, summary.Losses, summary.Online);
        Execute("DELETE FROM evals WHERE run_id = $id", ("$id", id));
        foreach (var e in summary.Eval)
            Execute("INSERT INTO evals VALUES ($id, $it, $split, $step, $seqs, $reads, $errors, $swe)",
                ("$id", id), ("$it", EnumText<Iterate>.Of(e.Iterate)), ("$split", e.Split), ("$step", e.Step), ("$seqs", e.Sequences),
                ("$reads", e.Reads), ("$errors", e.Errors), ("$swe", e.SequencesWithErrors));
        Execute("UPDATE runs SET status = $status, updated = $now WHERE id = $id", ("$id", id), ("$status", Text(summary.Status)), ("$now", Now));
        tx.Commit();
    }

    public RunRecord? Run(string id) => Runs().FirstOrDefault(r => r.Id == id);

    public IReadOnlyList<RunRecord> Runs()
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = "SELECT * FROM runs ORDER BY experiment, setting, replicate";
        using var reader = cmd.ExecuteReader();
        var list = new List<RunRecord>();
        while (reader.Read())
            list.Add(new RunRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt32(3), reader.GetString(4),
                reader.GetString(5), reader.GetString(6), ulong.Parse(reader.GetString(7), CultureInfo.InvariantCulture),
                ulong.Parse(reader.GetString(8), CultureInfo.InvariantCulture), reader.GetString(9), reader.GetString(10),
                EnumText<RunStatus>.Parse(reader.GetString(11), $"{Path}: status of run {reader.GetString(0)}"),
                reader.GetInt32(12), reader.GetDouble(13), reader.GetString(14)));
        return list;
    }

    /// <summary>Rows of a query over one run's id, mapped by <paramref name="map"/>.</summary>
    List<TRow> Query<TRow>(string sql, string id, Func<SqliteDataReader, TRow> map)
    {
        using var cmd = _db.CreateCommand();
        cmd.CommandText = sql;
        cmd.Parameters.AddWithValue("$id", id);
        using var reader = cmd.ExecuteReader();
        var list = new List<TRow>();
        while (reader.Read()) list.Add(map(reader));
        return list;
    }

    public IReadOnlyList<double> Losses(string id) =>
        Query("SELECT loss FROM losses WHERE run_id = $id ORDER BY step", id, r => r.IsDBNull(0) ? double.NaN : r.GetDouble(0));

    public IReadOnlyList<OnlineEvaluation> Online(string id) =>
        Query("SELECT step, reads, errors, sequences_with_errors FROM online WHERE run_id = $id ORDER BY step", id,
            r => new OnlineEvaluation(r.GetInt32(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3)));

    public IReadOnlyList<EvaluationRecord> Evals(string id) =>
        Query("SELECT split, iterate, sequences, reads, errors, sequences_with_errors, step FROM evals WHERE run_id = $id ORDER BY iterate, split", id,
            r => new EvaluationRecord(r.GetString(0), EnumText<Iterate>.Parse(r.GetString(1), $"{Path}: iterate"), r.GetInt64(2), r.GetInt64(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6)));

    /// <summary>
    /// Copies every run of the other stores into this one. A run present in several: the one that ended (finished or
    /// diverged), else the most advanced. The same run id with other options in two stores is refused.
    /// </summary>
    public void Merge(IEnumerable<string> others)
    {
        foreach (var other in others)
        {
            if (!File.Exists(other)) throw new FileNotFoundException($"{other}: no such results store");
            Execute("ATTACH DATABASE $path AS other", ("$path", other));
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
                    throw new InvalidDataException($"{other}: run {string.Join(", ", conflicts.Take(5))}{(conflicts.Count > 5 ? $" and {conflicts.Count - 5} more" : "")} " +
                                                   $"has other options than in {Path}; these stores are not shards of one experiment");
                using var tx = _db.BeginTransaction();
                Execute("""
                    DELETE FROM runs WHERE id IN (SELECT o.id FROM other.runs o JOIN runs r ON r.id = o.id
                      WHERE (o.status IN ('finished', 'diverged') AND r.status NOT IN ('finished', 'diverged'))
                         OR (o.status = r.status AND o.steps_done > r.steps_done));
                    DELETE FROM losses WHERE run_id NOT IN (SELECT id FROM runs) AND run_id IN (SELECT id FROM other.runs);
                    DELETE FROM online WHERE run_id NOT IN (SELECT id FROM runs) AND run_id IN (SELECT id FROM other.runs);
                    DELETE FROM evals WHERE run_id NOT IN (SELECT id FROM runs) AND run_id IN (SELECT id FROM other.runs);
                    CREATE TEMP TABLE incoming AS SELECT id FROM other.runs WHERE id NOT IN (SELECT id FROM runs);
                    INSERT INTO runs SELECT * FROM other.runs WHERE id IN (SELECT id FROM incoming);
                    INSERT INTO losses SELECT * FROM other.losses WHERE run_id IN (SELECT id FROM incoming);
                    INSERT INTO online SELECT * FROM other.online WHERE run_id IN (SELECT id FROM incoming);
                    INSERT INTO evals SELECT * FROM other.evals WHERE run_id IN (SELECT id FROM incoming);
                    DROP TABLE incoming;
                    """);
                tx.Commit();
            }
            finally { Execute("DETACH DATABASE other"); }
        }
    }

    /// <summary>Flat CSV tables: runs.csv, evals.csv, online.csv, losses.csv (written atomically).</summary>
    public IReadOnlyList<string> ExportCsv(string dir)
    {
        Directory.CreateDirectory(dir);
        var files = new List<string>();
        foreach (var (table, order) in new[] { ("runs", "id"), ("evals", "run_id, iterate, split"), ("online", "run_id, step"), ("losses", "run_id, step") })
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = $"SELECT * FROM {table} ORDER BY {order}";
            using var reader = cmd.ExecuteReader();
            var text = new System.Text.StringBuilder();
            text.AppendLine(string.Join(",", Enumerable.Range(0, reader.FieldCount).Select(reader.GetName)));
            while (reader.Read())
                text.AppendLine(string.Join(",", Enumerable.Range(0, reader.FieldCount).Select(i => Csv(reader.GetValue(i)))));
            string path = System.IO.Path.Combine(dir, table + ".csv");
            AtomicFile.WriteAllText(path, text.ToString());
            files.Add(path);
        }
        return files;
    }

    static string Csv(object value)
    {
        string s = value switch { double d => d.ToString("R", CultureInfo.InvariantCulture), DBNull => "", _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "" };
        return s.IndexOfAny([',', '"', '\n']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    }

    public void Dispose() => _db.Dispose();
}
