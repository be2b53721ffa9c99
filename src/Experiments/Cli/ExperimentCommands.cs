using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Experiments.Reports;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>`experiment list | run | merge | export | report | submit`: the paper's fixed experiment programs.</summary>
public static class ExperimentCommands
{
    public static Command Build(CliOutput output)
    {
        var cmd = new Command("experiment", "The paper's fixed experiments: run (resumable, shardable), merge, export, report.");
        cmd.Add(List(output));
        cmd.Add(Run(output));
        cmd.Add(Merge(output));
        cmd.Add(Export(output));
        cmd.Add(Report(output));
        cmd.Add(SlurmSubmit.Build(output));
        return cmd;
    }

    static Scale ParseScale(string text) => CliParse.Enum<Scale>(text, "--scale");

    /// <summary>--jobs: a positive count, or auto (the cores for the CPU and the emulator, two on a GPU), at most the runs.</summary>
    static int ParseJobs(string text, string backend, int runs)
    {
        int n;
        if (text == "auto") n = backend is "cuda" or "auto" ? 2 : Environment.ProcessorCount;
        else if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out n) || n < 1)
            throw new CliException($"--jobs: must be a positive count or auto, got \"{text}\"");
        return Math.Max(1, Math.Min(n, runs));
    }

    static Command List(CliOutput output)
    {
        var json = new Option<bool>("--json") { Description = "print a JSON list" };
        var cmd = new Command("list", "The experiments, what they reproduce, and per scale their runs and estimated hours on the CPU and on one GPU.") { json };
        cmd.SetAction(r =>
        {
            var rows = ExperimentCatalog.All.Select(e => new ExperimentSize(e.Name, e.Reproduces, e.Description,
                Enum.GetValues<Scale>().Where(e.Has).Select(s => ScaleSize.Of(e, s)).ToList())).ToList();
            if (r.GetValue(json)) { output.Out.WriteLine(Json.Serialize(rows)); return 0; }
            output.Out.WriteLine($"{"experiment",-13} {"scale",-6} {"runs",5} {"on the CPU",11} {"on one GPU",11}  reproduces");
            foreach (var e in rows)
            {
                foreach (var (s, i) in e.Scales.Select((s, i) => (s, i)))
                    output.Out.WriteLine($"{(i == 0 ? e.Name : ""),-13} {EnumText<Scale>.Of(s.Scale),-6} {s.Runs,5} {Hours(s.CpuHours, s.CpuMeasured),11} {Hours(s.GpuHours, s.GpuMeasured),11}  {(i == 0 ? e.Reproduces : "")}");
                output.Out.WriteLine($"{"",13} {e.Description}");
            }
            output.Out.WriteLine();
            output.Out.WriteLine("Hours are run FLOPs (training steps and every evaluation) at the effective rate of a reference step of the same model family:");
            foreach (var reference in RunCost.References)
                output.Out.WriteLine($"  {reference.Device} {reference.Family,-11} {(reference.Measured ? "measured " : "estimated"),-9} {reference.Seconds * 1000,8:0.#} ms per step: {reference.Source}");
            output.Out.WriteLine("  * scaled from a measured step time; ~ scaled from an estimated one. On one device, runs one after another.");
            return 0;
        });
        return cmd;
    }

    /// <summary>Hours to three significant figures at most, minutes under an hour; * measured basis, ~ estimated.</summary>
    static string Hours(double hours, bool measured) => (hours switch
    {
        >= 100 => hours.ToString("N0", CultureInfo.InvariantCulture) + " h",
        >= 1 => hours.ToString("0.#", CultureInfo.InvariantCulture) + " h",
        >= 1.0 / 60 => (hours * 60).ToString("0", CultureInfo.InvariantCulture) + " min",
        _ => "<1 min",
    }) + (measured ? "*" : "~");

    sealed record ExperimentSize(string Name, string Reproduces, string Description, IReadOnlyList<ScaleSize> Scales);

    sealed record ScaleSize(Scale Scale, int Runs, double CpuHours, bool CpuMeasured, double GpuHours, bool GpuMeasured)
    {
        public static ScaleSize Of(ExperimentDefinition experiment, Scale scale)
        {
            var runs = experiment.Runs(scale);
            var cpu = runs.Select(run => RunCost.Estimate(run.Options, RunCost.Cpu)).ToList();
            var gpu = runs.Select(run => RunCost.Estimate(run.Options, RunCost.Gpu)).ToList();
            return new ScaleSize(scale, runs.Count, cpu.Sum(e => e.Hours), cpu.All(e => e.Measured), gpu.Sum(e => e.Hours), gpu.All(e => e.Measured));
        }
    }

    static Command Run(CliOutput output)
    {
        var name = new Argument<string>("NAME") { Description = "experiment name (see `experiment list`)" };
        var scale = new Option<string>("--scale") { Description = "paper (the paper's settings), cpu (small models that converge on a CPU in minutes and still glitch; lstm, baseline, seeds, rare-mixture, mitigations, mechanistic) or quick (tiny, for checking the pipeline)", DefaultValueFactory = _ => "paper" };
        var replicates = new Option<int?>("--replicates") { Description = "replicates per setting (default: the experiment's)" }.AtLeast(1);
        var shard = new Option<string?>("--shard") { Description = "i/n: run every n-th run starting at the i-th (1-based); each shard writes its own store" };
        var backend = new Option<string>("--backend") { Description = "cpu, cuda, emulator or auto", DefaultValueFactory = _ => Backend.Cpu };
        var outDir = new Option<string?>("--out") { Description = "output directory (default runs/NAME-SCALE[-shard-i-of-n])" };
        var jobs = new Option<string>("--jobs") { Description = "runs trained at once in this process: N, or auto (the cores on the CPU and the emulator, 2 on CUDA)", DefaultValueFactory = _ => "1" };
        var precision = MatmulPrecisionOption.Create();
        var cmd = new Command("run", "Run an experiment; on an existing output, resume unfinished runs and skip finished ones.") { name, scale, replicates, shard, backend, outDir, jobs, precision };
        cmd.SetAction(r =>
        {
            ExperimentDefinition definition;
            try { definition = ExperimentCatalog.ByName(r.GetValue(name)!); }
            catch (ArgumentException e) { throw new CliException(e.Message); }
            var s = ParseScale(r.GetValue(scale)!);
            IReadOnlyList<RunSpec> runs;
            try { runs = definition.Runs(s, r.GetValue(replicates)); }
            catch (ArgumentException e) { throw new CliException(e.Message); }
            string suffix = "";
            if (r.GetValue(shard) is { } text)
            {
                var parts = text.Split('/');
                if (parts.Length != 2 || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out int i) || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out int n))
                    throw new CliException($"--shard: must look like i/n, got \"{text}\"");
                try { runs = ExperimentRunner.Shard(runs, i, n); }
                catch (ArgumentException e) { throw new CliException($"--shard: {e.Message}"); }
                suffix = $"-shard-{i}-of-{n}";
            }
            string dir = r.GetValue(outDir) ?? Path.Combine("runs", $"{definition.Name}-{EnumText<Scale>.Of(s)}{suffix}");
            string backendName = r.GetValue(backend)!;
            int jobCount = ParseJobs(r.GetValue(jobs)!, backendName, runs.Count);
            // Open one backend now: an unusable device is reported before any run starts; auto precision follows it.
            string opened;
            using (var probe = Backends.Open(backendName, output)) opened = probe.Name;
            var matmul = MatmulPrecisionOption.Resolve(r.GetValue(precision)!, opened);
            runs = runs.Select(run => run with { Options = run.Options with { MatmulPrecision = matmul } }).ToList();
            var runner = new ExperimentRunner(dir, s, () => Backends.Open(backendName, CliOutput.Silent), jobCount);
            var clock = Stopwatch.StartNew();
            try { ExperimentView.Show(output, report => runner.Run(runs, report)); }
            catch (OptionsMismatchException e) { throw new CliException($"--out {dir}: {e.Message}; run into another directory"); }
            output.Out.WriteLine($"{definition.Name} ({EnumText<Scale>.Of(s)}): {runs.Count} runs in {dir}; results in {runner.StorePath} " +
                                 $"({clock.Elapsed.TotalSeconds:0.0} s)");
            return 0;
        });
        return cmd;
    }

    static Command Merge(CliOutput output)
    {
        var into = new Option<string>("--into") { Description = "the store to merge into (created if missing)", Required = true };
        var stores = new Argument<string[]>("STORES") { Description = "shard stores (results.db files)", Arity = ArgumentArity.OneOrMore };
        var cmd = new Command("merge", "Combine shard stores into one.") { into, stores };
        cmd.SetAction(r =>
        {
            string target = r.GetValue(into)!;
            int runs = ResultsStore.MergeInto(target, r.GetValue(stores)!);
            output.Out.WriteLine($"merged {r.GetValue(stores)!.Length} stores into {target}: {runs} runs");
            return 0;
        });
        return cmd;
    }

    static Command Export(CliOutput output)
    {
        var db = new Option<string>("--db") { Description = "results store", Required = true };
        var csv = new Option<bool>("--csv") { Description = "write flat CSV tables: runs, evals, online, losses, eval_buckets, glitches, diagnostics" };
        var parquet = new Option<bool>("--parquet") { Description = "write the same tables as typed Parquet files (pandas, polars, pyarrow)" };
        var outDir = new Option<string>("--out") { Description = "output directory", DefaultValueFactory = _ => "export" };
        var cmd = new Command("export", "Export a results store as flat tables (CSV and/or Parquet).") { db, csv, parquet, outDir };
        cmd.SetAction(r =>
        {
            if (!r.GetValue(csv) && !r.GetValue(parquet)) throw new CliException("--csv/--parquet: choose a format (or both)");
            string dir = r.GetValue(outDir)!;
            var files = new List<(string Name, Action<string> Write)>();
            using (var store = ResultsStore.OpenReadOnly(r.GetValue(db)!))
            {
                if (r.GetValue(csv))
                    files.AddRange(store.CsvTables().Select(t => (t.Name, (Action<string>)(path => AtomicFile.WriteAllText(path, t.Text)))));
                if (r.GetValue(parquet))
                    files.AddRange(store.ExportTables().Select(t => (t.Name + ".parquet", (Action<string>)(path => StoreParquet.Write(t, path)))));
            }
            FileSet.PublishExclusive(dir, files);
            foreach (var (name, _) in files) output.Out.WriteLine($"wrote {Path.Combine(dir, name)}");
            return 0;
        });
        return cmd;
    }

    static Command Report(CliOutput output)
    {
        var db = new Option<string>("--db") { Description = "results store", Required = true };
        var outDir = new Option<string>("--out") { Description = "output directory for report.md and the figures", Required = true };
        var cmd = new Command("report", "Figures (PNG, SVG) and a Markdown summary of a results store.") { db, outDir };
        cmd.SetAction(r =>
        {
            var result = ExperimentReport.Write(r.GetValue(db)!, r.GetValue(outDir)!);
            output.Out.WriteLine($"wrote {result.Markdown} and {result.Figures.Count} figures");
            return 0;
        });
        return cmd;
    }
}
