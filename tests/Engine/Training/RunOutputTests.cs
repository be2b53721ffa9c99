using System.Diagnostics;
using System.Text.Json;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Tests.Engine.Training;

/// <summary>Run outputs are published as one set, a run directory has one owner, leftovers are cleaned.</summary>
[Trait("Category", "Cpu")]
public sealed class RunOutputTests
{
    static string Exe => Path.Combine(AppContext.BaseDirectory, "rawflipflop.dll");

    static Process Start(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(Exe);
        foreach (var a in args) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

    static string[] Train(string dir, int seed) =>
    [
        "train", "--model", "transformer", "--layers", "1", "--dim", "16", "--heads", "2", "--length", "32", "--batch", "4", "--steps", "12",
        "--lr", "3e-3", "--warmup", "2", "--eval-every", "4", "--eval-count", "10", "--offline", "sparse:10", "--seed", seed.ToString(),
        "--quiet", "--out", dir,
    ];

    /// <summary>The options hash every published file carries, or null when the directory holds no set; fails on a mix.</summary>
    static string? PublishedSet(string dir)
    {
        var names = new[] { RunDirectory.ModelFile, RunDirectory.BestFile, RunDirectory.SummaryFile };
        var present = names.Where(n => File.Exists(Path.Combine(dir, n))).ToList();
        if (present.Count == 0) return null;
        Assert.Equal(names, present);
        using var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, RunDirectory.SummaryFile)));
        string hash = summary.RootElement.GetProperty("options_hash").GetString()!;
        foreach (var checkpoint in new[] { RunDirectory.ModelFile, RunDirectory.BestFile })
            Assert.Equal(hash, SafeTensors.Read(Path.Combine(dir, checkpoint)).Metadata["options_hash"]);
        return hash;
    }

    [Fact]
    public void A_kill_at_any_moment_leaves_the_previous_set_or_the_new_one()
    {
        using var dir = new TempDir();
        string run = dir.File("run");
        using (var first = Start(Train(run, 1))) { first.WaitForExit(); Assert.Equal(0, first.ExitCode); }
        string? previous = PublishedSet(run);
        Assert.NotNull(previous);
        var random = new Random(5);
        int killedWhilePublishing = 0;
        for (int attempt = 0; attempt < 12; attempt++)
        {
            using var p = Start(Train(run, 2)); // a killed attempt leaves its state: the next one resumes it
            var clock = Stopwatch.StartNew();
            // half the attempts aim at the publication itself (a second generation appears), half at random moments
            bool aim = attempt % 2 == 0;
            double delay = random.NextDouble() * 2.5;
            while (!p.HasExited && clock.Elapsed.TotalSeconds < 30)
            {
                if (aim ? Directory.Exists(Path.Combine(run, ".rff")) && Directory.GetDirectories(Path.Combine(run, ".rff"), "gen-*").Length > 1
                        : clock.Elapsed.TotalSeconds > delay) break;
                Thread.Sleep(1);
            }
            if (aim && !p.HasExited) killedWhilePublishing++;
            if (!p.HasExited) p.Kill();
            p.WaitForExit();
            string? now = PublishedSet(run);
            Assert.NotNull(now); // the previous set never vanishes
        }
        Assert.True(killedWhilePublishing > 0, "no kill landed during a publication");
        using (var last = Start(Train(run, 2))) { last.WaitForExit(); Assert.Equal(0, last.ExitCode); }
        Assert.NotEqual(previous, PublishedSet(run));
        // the next run removed every leftover: one generation, no temporary files, no state
        Assert.Single(Directory.GetDirectories(Path.Combine(run, ".rff"), "gen-*"));
        Assert.Empty(Directory.GetFiles(run, "*.tmp", SearchOption.AllDirectories));
        Assert.False(File.Exists(Path.Combine(run, RunDirectory.StateFile)));
    }

    [Fact]
    public void A_second_process_cannot_train_into_a_claimed_directory()
    {
        using var dir = new TempDir();
        using var claim = RunDirectory.Open(dir.Path);
        var r = CliRunner.Run(Train(dir.Path, 1));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"process {Environment.ProcessId} is training in this directory", r.Err);
        Assert.Null(PublishedSet(dir.Path));
    }

    [Fact]
    public void Publishing_replaces_the_whole_set_and_drops_names_the_new_set_lacks()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir.File("notes.txt"), "mine");
        File.WriteAllText(dir.File("summary.json"), "an older plain file");
        File.WriteAllText(dir.File("best.safetensors"), "an older plain best");
        FileSet.Publish(dir.Path, [("summary.json", p => File.WriteAllText(p, "1")), ("model.safetensors", p => File.WriteAllText(p, "m1"))],
            RunDirectory.PublishedNames);
        Assert.Equal("1", File.ReadAllText(dir.File("summary.json")));
        Assert.Equal("m1", File.ReadAllText(dir.File("model.safetensors")));
        Assert.False(File.Exists(dir.File("best.safetensors")));
        Assert.Equal("mine", File.ReadAllText(dir.File("notes.txt")));
        FileSet.Publish(dir.Path, [("summary.json", p => File.WriteAllText(p, "2"))], RunDirectory.PublishedNames);
        Assert.Equal("2", File.ReadAllText(dir.File("summary.json")));
        Assert.False(File.Exists(dir.File("model.safetensors")));
        Assert.Single(Directory.GetDirectories(dir.File(".rff"), "gen-*"));
    }
}

/// <summary>Two `experiment run` processes on one directory share the work and never train a run twice.</summary>
[Trait("Category", "Cpu")]
public sealed class ConcurrentExperimentTests
{
    [Fact]
    public async Task Two_processes_on_one_directory_train_each_run_once()
    {
        using var dir = new TempDir();
        string exe = Path.Combine(AppContext.BaseDirectory, "rawflipflop.dll");
        Process Start()
        {
            var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
            info.ArgumentList.Add(exe);
            foreach (var a in new[] { "experiment", "run", "lstm", "--scale", "quick", "--replicates", "4", "--out", dir.File("lstm") }) info.ArgumentList.Add(a);
            return Process.Start(info)!;
        }
        using var a = Start();
        using var b = Start();
        var errA = a.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        var errB = b.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        string outA = await errA, outB = await errB;
        await a.WaitForExitAsync(TestContext.Current.CancellationToken);
        await b.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.True(a.ExitCode == 0, outA);
        Assert.True(b.ExitCode == 0, outB);
        string both = outA + outB;
        for (int r = 0; r < 4; r++)
        {
            string id = $"lstm/lstm/{r}";
            Assert.Equal(1, both.Split('\n').Count(l => l.Contains($"{id}: finished (")));
        }
        using var store = RawFlipFlop.Engine.Experiments.ResultsStore.OpenReadOnly(dir.File("lstm/results.db"));
        Assert.Equal(4, store.Runs().Count(r => r.Status == RunStatus.Finished));
    }
}
