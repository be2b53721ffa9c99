using System.Diagnostics;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Engine.Training.Tasks;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Engine.Experiments;

[Trait("Category", "Cpu")]
public sealed class ExperimentConfigurationTests
{
    static RunSpec Single(string experiment, string setting, Scale scale = Scale.Paper) =>
        ExperimentCatalog.ByName(experiment).Runs(scale).First(r => r.Setting == setting);

    [Fact]
    public void Lstm_is_the_papers_R2()
    {
        var runs = ExperimentCatalog.ByName("lstm").Runs(Scale.Paper);
        Assert.Equal(100, runs.Count);
        var o = runs[0].Options;
        Assert.Equal(133_381, ParameterLayout.For(o.Model).Count);
        Assert.Equal((500, 16, 512, 3e-4, 0.1, 50), (o.Steps, o.Batch, o.Length, o.LearningRate, o.WeightDecay, o.Warmup));
        Assert.Equal(501, o.ScheduleTotal);
        Assert.Equal([new OfflineSplit("sparse", 100_000), new("dense", 100_000)], o.Offline);
        Assert.Equal(FlipFlopDistribution.Train, Assert.Single(o.Data.Components));
        Assert.Equal(100, runs.Select(r => (r.Options.Seed, r.Options.DataSeed)).Distinct().Count());
    }

    [Fact]
    public void Baseline_is_the_papers_R1()
    {
        var o = Single("baseline", "baseline").Options;
        Assert.Equal(19_170_309, ParameterLayout.For(o.Model).Count);
        Assert.Equal((6, 512, 8, PositionEncoding.Learned), (o.Model.Layers, o.Model.Dim, o.Model.Heads, o.Model.Position));
        Assert.Equal((10_000, 16, 512, 3e-4, 0.1, 50, 10_001), (o.Steps, o.Batch, o.Length, o.LearningRate, o.WeightDecay, o.Warmup, o.ScheduleTotal));
        Assert.Equal((0.9, 0.999, 1e-8), (o.AdamBeta1, o.AdamBeta2, o.AdamEpsilon));
        Assert.Equal((100, 1_000), (o.EvalEvery, o.EvalCount));
        Assert.Equal([new OfflineSplit("sparse", 100_000), new("dense", 100_000), new("indist", 10_000)], o.Offline);
        Assert.Equal((LossMode.Clean, 0f, 0f, 0f, 0.0), (o.Mode, o.DropoutEmbedding, o.DropoutAttention, o.DropoutFeedForward, o.Sharpen));
    }

    [Fact]
    public void Sweeps_seeds_mixture_scaling_mitigations_and_generative()
    {
        var sweep = ExperimentCatalog.ByName("size-sweep").Runs(Scale.Paper);
        Assert.Equal(4 * 4 * 4 * 3, sweep.Count);
        Assert.Equal([2, 4, 6, 8], sweep.Select(r => r.Options.Model.Layers).Distinct().Order());
        Assert.Equal([128, 256, 512, 1024], sweep.Select(r => r.Options.Model.Dim).Distinct().Order());
        Assert.Equal([2, 4, 8, 16], sweep.Select(r => r.Options.Model.Heads).Distinct().Order());

        var seeds = ExperimentCatalog.ByName("seeds").Runs(Scale.Paper);
        Assert.Equal(25, seeds.Count);
        Assert.Equal(5, seeds.Select(r => r.Options.DataSeed).Distinct().Count());
        Assert.Equal(5, seeds.Select(r => r.Options.Seed).Distinct().Count());
        Assert.Equal(25, seeds.Select(r => (r.Options.Seed, r.Options.DataSeed)).Distinct().Count());

        var mixture = Single("rare-mixture", "mixture-0.9-0.98-0.1").Options.Data;
        Assert.Equal([0.9, 0.98, 0.1], mixture.Components.Select(c => Math.Round(c.PIgnore, 12)));
        // R4: errors on each of the mixture's components, FFL(0.9) being the medium split of 10^5 with its own seed
        var mixtureRuns = ExperimentCatalog.ByName("rare-mixture").Runs(Scale.Paper);
        Assert.Equal(50, mixtureRuns.Count);
        Assert.All(mixtureRuns, r => Assert.Equal(["sparse", "dense", "indist", "medium"], r.Options.Offline.Select(x => x.Split)));
        Assert.Equal(100_000, mixtureRuns[0].Options.Offline[^1].Count);
        Assert.Equal(0.9, Math.Round(EvaluationSets.Medium.Distribution.PIgnore, 12));
        Assert.Equal(EvaluationSets.All.Count, EvaluationSets.All.Select(x => x.Seed).Distinct().Count());
        Assert.Equal(500, ExperimentCatalog.ByName("baseline").Runs(Scale.Paper).Count);
        Assert.All(new[] { "scaling", "mitigations", "generative" }, name =>
            Assert.All(ExperimentCatalog.ByName(name).Runs(Scale.Paper).GroupBy(r => r.Setting), g => Assert.Equal(25, g.Count())));

        var scaling = ExperimentCatalog.ByName("scaling").Runs(Scale.Paper).GroupBy(r => r.Setting).ToDictionary(g => g.Key, g => g.First().Options);
        Assert.Equal(64, scaling["batch-x4"].Batch);
        Assert.Equal((30_000, 30_001), (scaling["steps-x3"].Steps, scaling["steps-x3"].ScheduleTotal));
        Assert.Equal(1024, scaling["width-x2"].Model.Dim);
        Assert.Equal(12, scaling["depth-x2"].Model.Layers);

        var m = ExperimentCatalog.ByName("mitigations").Runs(Scale.Paper).GroupBy(r => r.Setting).ToDictionary(g => g.Key, g => g.First().Options);
        Assert.Equal(1.0, m["weight-decay-1.0"].WeightDecay);
        Assert.Equal(0.5f, m["dropout-attn-0.5"].DropoutAttention);
        Assert.Equal(0.1f, m["dropout-ff-0.1"].DropoutFeedForward);
        Assert.Equal(0.5f, m["dropout-emb-0.5"].DropoutEmbedding);
        foreach (var pos in new[] { "sinusoidal", "rope", "alibi", "none", "linear" })
            Assert.Equal(pos, m[$"pos-{pos}"].Model.Position.ToString().ToLowerInvariant());
        Assert.Equal((0.1, null), (m["sharpen-all-0.1"].Sharpen, m["sharpen-all-0.1"].SharpenLayers));
        Assert.Equal([0], m["sharpen-first-0.01"].SharpenLayers!);
        Assert.All(m.Values, o => Assert.Equal(10_000, o.Steps));

        Assert.Equal(LossMode.Generative, Single("generative", "generative").Options.Mode);
    }

    [Fact]
    public void Mechanistic_is_the_automaton_with_one_layer_one_head_and_the_834_drift()
    {
        var all = ExperimentCatalog.ByName("mechanistic").Runs(Scale.Paper);
        var counts = all.GroupBy(r => r.Setting).ToDictionary(g => g.Key, g => g.Count());
        // Figure 12: 8 models per curve; the drift model and the deep models of Figures 10, 16, 17: one each
        Assert.Equal(new Dictionary<string, int>
        {
            ["learned"] = 8, ["learned-sharpen"] = 8, ["learned-sharpen-from-30pct"] = 8, ["linear-drift"] = 1,
            ["deep"] = 1, ["deep-sharpen-all"] = 1, ["deep-sharpen-first"] = 1,
        }, counts);
        var runs = all.Where(r => r.Replicate == 0).ToDictionary(r => r.Setting, r => r.Options);
        Assert.All(runs.Values, o =>
        {
            Assert.Equal(TaskKind.Automaton, o.Task);
            Assert.Equal(3, o.Model.VocabSize);
            Assert.Equal(0.5, o.AutomatonPWrite);
        });
        foreach (var shallow in new[] { "learned", "learned-sharpen", "learned-sharpen-from-30pct", "linear-drift" })
            Assert.Equal((1, 1), (runs[shallow].Model.Layers, runs[shallow].Model.Heads));
        foreach (var deep in new[] { "deep", "deep-sharpen-all", "deep-sharpen-first" })
            Assert.Equal((6, 8), (runs[deep].Model.Layers, runs[deep].Model.Heads));
        Assert.Equal(0.0, runs["learned"].Sharpen);
        Assert.True(runs["learned-sharpen"].Sharpen > 0);
        Assert.Equal(3_000, runs["learned-sharpen-from-30pct"].SharpenFrom);
        Assert.Equal((0.0, 0.01, 0.01), (runs["deep"].Sharpen, runs["deep-sharpen-all"].Sharpen, runs["deep-sharpen-first"].Sharpen));
        Assert.Null(runs["deep-sharpen-all"].SharpenLayers);
        Assert.Equal([0], runs["deep-sharpen-first"].SharpenLayers!);
        Assert.Equal((PositionEncoding.Linear, 500), (runs["linear-drift"].Model.Position, runs["linear-drift"].Length));
        Assert.Equal(834, AutomatonTask.DriftLength(500));
        Assert.Equal<byte>(AttentionMaps.PaperInput, (byte[])[Automaton.Sigma1, Automaton.Bottom, Automaton.Sigma0, Automaton.Bottom, Automaton.Bottom, Automaton.Sigma0, Automaton.Sigma1, Automaton.Bottom]);
    }

    [Fact]
    public void The_cpu_scale_covers_six_experiments_with_the_searched_baseline()
    {
        string[] withCpu = ["lstm", "baseline", "seeds", "rare-mixture", "mitigations", "mechanistic"];
        Assert.Equal(withCpu, ExperimentCatalog.All.Where(e => e.Has(Scale.Cpu)).Select(e => e.Name));
        foreach (var e in ExperimentCatalog.All.Where(e => !e.Has(Scale.Cpu)))
            Assert.Contains("has no cpu scale", Assert.Throws<ArgumentException>(() => e.Runs(Scale.Cpu)).Message);

        var b = Single("baseline", "baseline", Scale.Cpu).Options;
        Assert.Equal((2, 32, 2, 64), (b.Model.Layers, b.Model.Dim, b.Model.Heads, b.Length));
        Assert.Equal((4_000, 32, 2e-3, 100), (b.Steps, b.Batch, b.LearningRate, b.Warmup));
        Assert.Equal([new OfflineSplit("sparse", 10_000), new("dense", 10_000), new("indist", 10_000)], b.Offline);
        Assert.Equal(5, ExperimentCatalog.ByName("baseline").Runs(Scale.Cpu).Count);
        var lstm = ExperimentCatalog.ByName("lstm").Runs(Scale.Cpu);
        Assert.Equal(5, lstm.Count);
        Assert.All(lstm, r =>
        {
            Assert.Equal((true, 64), (r.Options.Model.IsLstm, r.Options.Length));
            Assert.Equal(b.Offline, r.Options.Offline);
        });
        Assert.Equal(9, ExperimentCatalog.ByName("seeds").Runs(Scale.Cpu).Count);
        var mitigations = ExperimentCatalog.ByName("mitigations").Runs(Scale.Cpu, 1).Select(r => r.Setting).ToList();
        Assert.Equal(["baseline", "weight-decay-0.0", "weight-decay-1.0", "dropout-attn-0.1", "pos-alibi", "sharpen-all-0.01", "sharpen-all-0.1"], mitigations);
        // every cpu setting is a paper setting, at a smaller size
        foreach (var name in withCpu.Where(n => n != "seeds"))
            Assert.Subset(ExperimentCatalog.ByName(name).Runs(Scale.Paper, 1).Select(r => r.Setting).ToHashSet(),
                          ExperimentCatalog.ByName(name).Runs(Scale.Cpu, 1).Select(r => r.Setting).ToHashSet());
        Assert.All(withCpu.SelectMany(n => ExperimentCatalog.ByName(n).Runs(Scale.Cpu)), r => r.Options.Validate());
    }

    [Fact]
    public void Every_experiment_has_a_quick_scale_that_keeps_its_settings()
    {
        foreach (var e in ExperimentCatalog.All)
        {
            var quick = e.Runs(Scale.Quick, 1);
            Assert.NotEmpty(quick);
            Assert.All(quick, r => r.Options.Validate());
            if (e.Name is not ("size-sweep" or "seeds"))
                Assert.Equal(e.Runs(Scale.Paper, 1).Select(r => r.Setting), quick.Select(r => r.Setting));
        }
    }
}

[Trait("Category", "Cpu")]
public sealed class ExperimentRunTests
{
    static ExperimentRunner Runner(string dir, CpuDevice device) => new(dir, Scale.Quick, new Backend("cpu", device, new CpuOps<float>(device)));

    [Fact]
    public void Quick_lstm_with_two_replicates_makes_a_store_and_a_report_with_zero_errors()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("experiment", "run", "lstm", "--scale", "quick", "--replicates", "2", "--out", dir.File("lstm"));
        Assert.True(r.ExitCode == 0, r.Err);
        using (var store = ResultsStore.OpenReadOnly(dir.File("lstm/results.db")))
        {
            var runs = store.Runs();
            Assert.Equal(2, runs.Count);
            Assert.All(runs, run => Assert.Equal(RunStatus.Finished, run.Status));
            Assert.All(runs, run =>
            {
                var evals = store.Evals(run.Id);
                Assert.Equal(4, evals.Count);
                Assert.All(evals, e => Assert.True(e.Reads > 1000 && e.Errors == 0, $"{run.Id} {e.Split} {e.Iterate}: {e.Errors}/{e.Reads}"));
                Assert.Equal(300, store.Losses(run.Id).Count);
                Assert.Equal(3, store.Online(run.Id).Count);
            });
        }
        var rep = CliRunner.Run("experiment", "report", "--db", dir.File("lstm/results.db"), "--out", dir.File("report"));
        Assert.True(rep.ExitCode == 0, rep.Err);
        foreach (var f in new[] { "lstm-curves.png", "lstm-curves.svg", "lstm-errors.png", "lstm-curves-loss.png" })
            Assert.True(File.ReadAllBytes(dir.File("report/" + f)).Length > 1000, f);
        var md = File.ReadAllText(dir.File("report/report.md"));
        Assert.Contains("| lstm | final | sparse | 2 | 0 | 0 | 0 | 2 |", md);
        Assert.Contains("Scale quick; 1 setting, 2 replicates per setting; 2 of 2 runs finished.", md);
        Assert.Contains("**Not the paper's numbers.**", md);
        // a second run on the same output skips both finished runs
        var again = CliRunner.Run("experiment", "run", "lstm", "--scale", "quick", "--replicates", "2", "--out", dir.File("lstm"));
        Assert.Equal(2, again.Err.Split('\n').Count(l => l.Contains("skipped")));
        var csv = CliRunner.Run("experiment", "export", "--db", dir.File("lstm/results.db"), "--csv", "--parquet", "--out", dir.File("csv"));
        Assert.True(csv.ExitCode == 0, csv.Err);
        Assert.Equal(1 + 2 * 4, File.ReadAllLines(dir.File("csv/evals.csv")).Length);
        // the Parquet tables hold the CSV's rows with typed columns
        foreach (var table in new[] { "runs", "evals", "online", "losses", "eval_buckets", "glitches", "diagnostics" })
        {
            var lines = File.ReadAllLines(dir.File($"csv/{table}.csv"));
            var (fields, columns) = ReadParquet(dir.File($"csv/{table}.parquet"));
            Assert.Equal(lines[0], string.Join(",", fields.Select(f => f.Name)));
            Assert.All(columns, c => Assert.Equal(lines.Length - 1, c.Length));
            for (int row = 1; row < lines.Length; row++)
                Assert.Equal(lines[row], string.Join(",", columns.Select(c => CsvText(c.GetValue(row - 1)))));
        }
        var evalFields = ReadParquet(dir.File("csv/evals.parquet")).Fields;
        Assert.Equal(typeof(long), evalFields.Single(f => f.Name == "errors").ClrType);
        Assert.True(IsText(evalFields.Single(f => f.Name == "split")));
        Assert.Equal((typeof(double), true), ReadParquet(dir.File("csv/losses.parquet")).Fields.Single(f => f.Name == "loss") is var l ? (l.ClrType, l.IsNullable) : default);
    }

    static (Parquet.Schema.DataField[] Fields, Array[] Columns) ReadParquet(string path)
    {
        var reader = Parquet.ParquetReader.CreateAsync(path).GetAwaiter().GetResult();
        try
        {
            var fields = reader.Schema.GetDataFields();
            var columns = fields.Select(_ => new List<object?>()).ToArray();
            for (int g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                int n = (int)group.RowCount;
                for (int f = 0; f < fields.Length; f++)
                {
                    var field = fields[f];
                    IEnumerable<object?> values;
                    if (IsText(field)) { var a = new string?[n]; group.ReadAsync(field, a.AsMemory()).AsTask().Wait(); values = a; }
                    else if (field.ClrType == typeof(long) && field.IsNullable) { var a = new long?[n]; group.ReadAsync<long>(field, a.AsMemory()).AsTask().Wait(); values = a.Cast<object?>(); }
                    else if (field.ClrType == typeof(long)) { var a = new long[n]; group.ReadAsync<long>(field, a.AsMemory()).AsTask().Wait(); values = a.Cast<object?>(); }
                    else if (field.IsNullable) { var a = new double?[n]; group.ReadAsync<double>(field, a.AsMemory()).AsTask().Wait(); values = a.Cast<object?>(); }
                    else { var a = new double[n]; group.ReadAsync<double>(field, a.AsMemory()).AsTask().Wait(); values = a.Cast<object?>(); }
                    columns[f].AddRange(values);
                }
            }
            return (fields, columns.Select(c => (Array)c.ToArray()).ToArray());
        }
        finally { reader.DisposeAsync().AsTask().Wait(); }
    }

    /// <summary>Parquet.Net reads UTF-8 columns back as string or ReadOnlyMemory&lt;char&gt; fields.</summary>
    static bool IsText(Parquet.Schema.DataField field) => field.ClrType == typeof(string) || field.ClrType == typeof(ReadOnlyMemory<char>);

    static string CsvText(object? v)
    {
        string s = v switch { double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture), null => "", _ => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture)! };
        return s.IndexOfAny([',', '"', '\n']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
    }

    [Fact]
    public void An_interrupted_run_resumes_to_bit_identical_weights()
    {
        using var dir = new TempDir();
        using var device = new CpuDevice();
        var spec = ExperimentCatalog.ByName("baseline").Runs(Scale.Quick, 1)[0];
        spec = spec with { Options = spec.Options with { Steps = 120, EvalEvery = 40, DropoutAttention = 0.1f } };
        Runner(dir.File("whole"), device).Run([spec], cancel: TestContext.Current.CancellationToken);

        // abandon the run right after its first checkpoint (nothing after it is written), then resume
        using var cancel = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => Runner(dir.File("cut"), device).Run([spec], e =>
        {
            if (e.Job?.Training is { Step: 41 }) cancel.Cancel();
        }, cancel.Token));
        using (var store = ResultsStore.OpenReadOnly(dir.File("cut/results.db")))
            Assert.Equal((RunStatus.Running, 40), (store.Runs()[0].Status, store.Runs()[0].StepsDone));
        int? resumed = null;
        Runner(dir.File("cut"), device).Run([spec], e => resumed ??= e.Job?.ResumedAt, TestContext.Current.CancellationToken);
        Assert.Equal(40, resumed);
        string Model(string d) => Path.Combine(d, "runs/baseline/baseline/0/model.safetensors");
        Assert.Equal(File.ReadAllBytes(Model(dir.File("whole"))), File.ReadAllBytes(Model(dir.File("cut"))));
        using var a = ResultsStore.OpenReadOnly(dir.File("whole/results.db"));
        using var b = ResultsStore.OpenReadOnly(dir.File("cut/results.db"));
        Assert.Equal(a.Losses(spec.Id), b.Losses(spec.Id));
        Assert.Equal(a.Evals(spec.Id), b.Evals(spec.Id));
    }

    [Fact]
    public void A_run_killed_with_sigkill_resumes_to_bit_identical_weights()
    {
        using var dir = new TempDir();
        string exe = Path.Combine(AppContext.BaseDirectory, "rawflipflop.dll");
        string[] args = ["experiment", "run", "mechanistic", "--scale", "quick", "--out"];
        Process Start(string outDir)
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            info.ArgumentList.Add(exe);
            foreach (var a in args) info.ArgumentList.Add(a);
            info.ArgumentList.Add(outDir);
            return Process.Start(info)!;
        }
        using (var whole = Start(dir.File("whole"))) { whole.StandardError.ReadToEnd(); whole.WaitForExit(); Assert.Equal(0, whole.ExitCode); }
        string state = dir.File("cut/runs/mechanistic/learned/0/state.safetensors");
        using (var cut = Start(dir.File("cut")))
        {
            var clock = Stopwatch.StartNew();
            while (!File.Exists(state) && !cut.HasExited && clock.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(5);
            cut.Kill(); // SIGKILL
            cut.WaitForExit();
        }
        using (var store = ResultsStore.OpenReadOnly(dir.File("cut/results.db")))
            Assert.DoesNotContain(store.Runs(), r => r.Id == "mechanistic/linear-drift/0" && r.Status == RunStatus.Finished); // killed mid-experiment
        using (var resume = Start(dir.File("cut"))) { resume.StandardError.ReadToEnd(); resume.WaitForExit(); Assert.Equal(0, resume.ExitCode); }
        foreach (var setting in new[] { "learned", "learned-sharpen", "linear-drift" })
        {
            string model = $"runs/mechanistic/{setting}/0/model.safetensors";
            Assert.Equal(File.ReadAllBytes(Path.Combine(dir.File("whole"), model)), File.ReadAllBytes(Path.Combine(dir.File("cut"), model)));
        }
    }

    [Fact]
    public void Two_shards_merged_equal_one_unsharded_run()
    {
        using var dir = new TempDir();
        foreach (var (shard, outDir) in new[] { ("1/2", "s1"), ("2/2", "s2") })
            Assert.Equal(0, CliRunner.Run("experiment", "run", "lstm", "--scale", "quick", "--replicates", "2", "--shard", shard, "--out", dir.File(outDir)).ExitCode);
        Assert.Equal(0, CliRunner.Run("experiment", "run", "lstm", "--scale", "quick", "--replicates", "2", "--out", dir.File("all")).ExitCode);
        var m = CliRunner.Run("experiment", "merge", "--into", dir.File("merged.db"), dir.File("s1/results.db"), dir.File("s2/results.db"));
        Assert.True(m.ExitCode == 0, m.Err);
        using var merged = ResultsStore.OpenReadOnly(dir.File("merged.db"));
        using var all = ResultsStore.OpenReadOnly(dir.File("all/results.db"));
        Assert.Equal(all.Runs().Select(r => (r.Id, r.Status, r.StepsDone, r.OptionsHash, r.OptionsJson)), merged.Runs().Select(r => (r.Id, r.Status, r.StepsDone, r.OptionsHash, r.OptionsJson)));
        foreach (var run in all.Runs())
        {
            Assert.Equal(all.Losses(run.Id), merged.Losses(run.Id));
            Assert.Equal(all.Online(run.Id), merged.Online(run.Id));
            Assert.Equal(all.Evals(run.Id), merged.Evals(run.Id));
        }
    }
}

[Trait("Category", "Cpu")]
public sealed class ConcurrentJobsTests
{
    [Theory]
    [InlineData("lstm", "3", "2")]
    [InlineData("mechanistic", "1", "3")]
    public void Runs_trained_as_concurrent_jobs_are_bit_identical_to_sequential_runs(string experiment, string replicates, string jobs)
    {
        using var dir = new TempDir();
        var sequential = CliRunner.Run("experiment", "run", experiment, "--scale", "quick", "--replicates", replicates, "--out", dir.File("seq"));
        Assert.True(sequential.ExitCode == 0, sequential.Err);
        var concurrent = CliRunner.Run("experiment", "run", experiment, "--scale", "quick", "--replicates", replicates, "--jobs", jobs, "--out", dir.File("par"));
        Assert.True(concurrent.ExitCode == 0, concurrent.Err);
        using var a = ResultsStore.OpenReadOnly(dir.File("seq/results.db"));
        using var b = ResultsStore.OpenReadOnly(dir.File("par/results.db"));
        Assert.Equal(a.Runs().Select(r => (r.Id, r.Status, r.StepsDone, r.OptionsHash)), b.Runs().Select(r => (r.Id, r.Status, r.StepsDone, r.OptionsHash)));
        foreach (var run in a.Runs())
        {
            Assert.Equal(a.Losses(run.Id), b.Losses(run.Id));
            Assert.Equal(a.Online(run.Id), b.Online(run.Id));
            Assert.Equal(a.Evals(run.Id), b.Evals(run.Id));
            string runDir = Path.Combine("runs", run.Experiment, run.Setting, run.Replicate.ToString());
            foreach (var file in Directory.EnumerateFiles(dir.File(Path.Combine("seq", runDir)), "*.safetensors"))
                Assert.Equal(File.ReadAllBytes(file), File.ReadAllBytes(Path.Combine(dir.File(Path.Combine("par", runDir)), Path.GetFileName(file))));
        }
    }

    [Fact]
    public void Jobs_must_be_a_positive_count_or_auto()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("experiment", "run", "lstm", "--scale", "quick", "--jobs", "0", "--out", dir.File("x"));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("--jobs", r.Err);
        Assert.False(Directory.Exists(dir.File("x")));
    }
}
