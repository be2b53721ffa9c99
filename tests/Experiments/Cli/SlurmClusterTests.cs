using System.Diagnostics;
using System.Text.RegularExpressions;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Tests.Kernels;

namespace RawFlipFlop.Tests.Experiments.Cli;

/// <summary>
/// `experiment submit --slurm` against a real Slurm: a single-node cluster (Debian's slurmctld, slurmd and munge) started
/// on localhost by tests/slurm/cluster.sh with a generated slurm.conf, a quick-scale experiment submitted as a 3-task
/// array on the CPU backend, and the merged store compared with an unsharded run. Skipped with the reason where Slurm is
/// not installed or the tests do not run as root; CI installs it and requires it (RFF_REQUIRE_TOOLCHAIN=1).
/// </summary>
[Trait("Category", "Cpu")]
[Collection(SlurmSubmitTests.PathCollection)]
public sealed partial class SlurmClusterTests
{
    static readonly TimeSpan JobTimeout = TimeSpan.FromMinutes(10);

    static (int ExitCode, string Output) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }

    /// <summary>Every job state of job <paramref name="id"/> (one per array task), from scontrol.</summary>
    static List<string> States(string id)
    {
        var (code, output) = Run("scontrol", "show", "job", id, "-o");
        Assert.True(code == 0, $"scontrol show job {id}: exit {code}: {output}");
        return JobState().Matches(output).Select(m => m.Groups[1].Value).ToList();
    }

    [GeneratedRegex(@"JobState=(\S+)")]
    private static partial Regex JobState();

    [GeneratedRegex(@"submitted array job (\d+) \(3 tasks\) and merge job (\d+)")]
    private static partial Regex Submitted();

    [Fact]
    public void A_real_cluster_runs_the_array_and_the_merge_and_the_store_equals_an_unsharded_run()
    {
        Toolchain.RequireSlurm();
        using var dir = new TempDir();
        string script = Path.Combine(AppContext.BaseDirectory, "slurm", "cluster.sh"), cluster = dir.File("cluster");
        var (started, startOutput) = Run("bash", script, "start", cluster);
        Assert.True(started == 0, $"cluster.sh start: exit {started}: {startOutput}");
        string conf = startOutput.Trim().Split('\n')[^1];
        Assert.True(File.Exists(conf), $"cluster.sh printed no slurm.conf: {startOutput}");
        Environment.SetEnvironmentVariable("SLURM_CONF", conf);
        try
        {
            var submit = CliRunner.Run("experiment", "submit", "lstm", "--slurm", "--array", "3", "--scale", "quick", "--replicates", "3",
                "--backend", "cpu", "--partition", "debug", "--time", "00:20:00", "--out", dir.File("sub"));
            Assert.True(submit.ExitCode == 0, submit.Err + submit.Out);
            var ids = Submitted().Match(submit.Out);
            Assert.True(ids.Success, $"no job ids in: {submit.Out}");
            string arrayId = ids.Groups[1].Value, mergeId = ids.Groups[2].Value;

            var clock = Stopwatch.StartNew();
            List<string> merge;
            while (true)
            {
                merge = States(mergeId);
                if (merge.Count == 1 && merge[0] is not ("PENDING" or "RUNNING" or "CONFIGURING" or "COMPLETING")) break;
                if (clock.Elapsed > JobTimeout) break;
                Thread.Sleep(1000);
            }
            string logs = string.Join("\n", Directory.EnumerateFiles(dir.File("sub/slurm/logs")).Order()
                .Select(f => $"--- {Path.GetFileName(f)}\n{File.ReadAllText(f)}"));
            Assert.True(merge is ["COMPLETED"], $"merge job {mergeId}: {string.Join(",", merge)} after {clock.Elapsed}; logs:\n{logs}");
            var tasks = States(arrayId);
            Assert.Equal(["COMPLETED", "COMPLETED", "COMPLETED"], tasks);
            for (int task = 1; task <= 3; task++) Assert.True(File.Exists(dir.File($"sub/shards/{task}/results.db")), $"task {task} wrote no store");
            Assert.True(File.Exists(dir.File("sub/report/report.md")));

            Assert.Equal(0, CliRunner.Run("experiment", "run", "lstm", "--scale", "quick", "--replicates", "3", "--out", dir.File("all")).ExitCode);
            using var merged = ResultsStore.OpenReadOnly(dir.File("sub/results.db"));
            using var all = ResultsStore.OpenReadOnly(dir.File("all/results.db"));
            Assert.Equal(all.Runs().Select(r => (r.Id, r.Status, r.OptionsHash)), merged.Runs().Select(r => (r.Id, r.Status, r.OptionsHash)));
            foreach (var run in all.Runs())
            {
                Assert.Equal(all.Losses(run.Id), merged.Losses(run.Id));
                Assert.Equal(all.Evals(run.Id), merged.Evals(run.Id));
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable("SLURM_CONF", null);
            Run("bash", script, "stop", cluster);
        }
    }
}
