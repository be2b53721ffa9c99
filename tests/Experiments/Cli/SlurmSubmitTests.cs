using System.Diagnostics;
using RawFlipFlop.Engine.Experiments;

namespace RawFlipFlop.Tests.Experiments.Cli;

/// <summary>
/// `experiment submit --slurm`: the array and merge scripts, their submission through sbatch (a stand-in on PATH that
/// records its arguments), and the scripts run as Slurm would run them (each task with its SLURM_ARRAY_TASK_ID, then
/// the merge job), whose merged store must equal an unsharded run.
/// </summary>
[Trait("Category", "Cpu")]
[Collection(SlurmSubmitTests.PathCollection)]
public sealed class SlurmSubmitTests
{
    public const string PathCollection = "changes PATH";

    static int Bash(string script, string? task = null)
    {
        var info = new ProcessStartInfo("bash", [script]) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (task != null) info.Environment["SLURM_ARRAY_TASK_ID"] = task;
        using var p = Process.Start(info)!;
        string output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{script} (task {task}): exit {p.ExitCode}: {output}");
        return p.ExitCode;
    }

    [Fact]
    public void The_scripts_run_as_slurm_would_give_the_unsharded_store()
    {
        using var dir = new TempDir();
        var submit = CliRunner.Run("experiment", "submit", "lstm", "--slurm", "--array", "3", "--scale", "quick", "--replicates", "3",
            "--backend", "cpu", "--partition", "debug", "--gres", "gpu:1", "--time", "00:30:00", "--out", dir.File("sub"), "--dry-run");
        Assert.True(submit.ExitCode == 0, submit.Err);
        string array = File.ReadAllText(dir.File("sub/slurm/array.sbatch")), merge = File.ReadAllText(dir.File("sub/slurm/merge.sbatch"));
        foreach (var directive in new[] { "#SBATCH --array=1-3", "#SBATCH --partition=debug", "#SBATCH --gres=gpu:1", "#SBATCH --time=00:30:00", "#SBATCH --job-name=rff-lstm" })
            Assert.Contains(directive, array);
        Assert.Contains("--shard \"$i/3\"", array);
        Assert.Contains("experiment merge --into", merge);
        Assert.Contains("sbatch --parsable --dependency=afterok:ARRAY_JOB_ID", submit.Out);

        for (int task = 1; task <= 3; task++) Bash(dir.File("sub/slurm/array.sbatch"), task.ToString());
        Bash(dir.File("sub/slurm/merge.sbatch"));
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

    [Fact]
    public void Submission_sends_the_array_then_the_merge_after_it_and_reports_sbatch_failures()
    {
        using var dir = new TempDir();
        string bin = dir.File("bin");
        Directory.CreateDirectory(bin);
        // a stand-in sbatch: records its arguments, prints job ids 41, 42, ... (fails when FAIL_SBATCH is set)
        File.WriteAllText(Path.Combine(bin, "sbatch"), $$"""
            #!/usr/bin/env bash
            [ -n "${FAIL_SBATCH:-}" ] && { echo "sbatch: error: invalid partition specified: nope" >&2; exit 1; }
            echo "$*" >> "{{dir.File("sbatch.log")}}"
            n=$(wc -l < "{{dir.File("sbatch.log")}}")
            echo "$((40 + n));cluster"
            """);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(bin, "sbatch"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string path = Environment.GetEnvironmentVariable("PATH")!;
        Environment.SetEnvironmentVariable("PATH", bin + ":" + path);
        try
        {
            var r = CliRunner.Run("experiment", "submit", "baseline", "--slurm", "--array", "1", "--out", dir.File("sub"));
            Assert.True(r.ExitCode == 0, r.Err);
            Assert.Contains("submitted array job 41 (1 tasks) and merge job 42", r.Out);
            var calls = File.ReadAllLines(dir.File("sbatch.log"));
            Assert.Equal($"--parsable {dir.File("sub/slurm/array.sbatch")}", calls[0]);
            Assert.Equal($"--parsable --dependency=afterok:41 {dir.File("sub/slurm/merge.sbatch")}", calls[1]);
            Environment.SetEnvironmentVariable("FAIL_SBATCH", "1");
            var failed = CliRunner.Run("experiment", "submit", "baseline", "--slurm", "--array", "1", "--out", dir.File("sub2"));
            Assert.Equal(1, failed.ExitCode);
            Assert.Contains("invalid partition specified", failed.Err);
        }
        finally
        {
            Environment.SetEnvironmentVariable("PATH", path);
            Environment.SetEnvironmentVariable("FAIL_SBATCH", null);
        }
        var none = CliRunner.Run("experiment", "submit", "baseline", "--slurm", "--array", "1", "--out", dir.File("sub3"));
        if (!File.Exists("/usr/bin/sbatch") && !File.Exists("/usr/local/bin/sbatch"))
        {
            Assert.Equal(1, none.ExitCode);
            Assert.Contains("sbatch is not on PATH", none.Err);
        }
    }
}
