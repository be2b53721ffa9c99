using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>
/// `experiment submit NAME --slurm --array N ...`: an sbatch job array in which task i runs shard i/N of the experiment
/// into its own store (DIR/shards/i), and a job that depends on the whole array (afterok) and merges the shards into
/// DIR/results.db and writes DIR/report. Both scripts are written under DIR/slurm; without --dry-run they are submitted
/// with sbatch and the job ids printed.
/// </summary>
public static class SlurmSubmit
{
    public static Command Build(CliOutput output)
    {
        var name = new Argument<string>("NAME") { Description = "experiment name (see `experiment list`)" };
        var slurm = new Option<bool>("--slurm") { Description = "submit to Slurm as a job array (the only scheduler so far)" };
        var array = new Option<int>("--array") { Description = "array tasks: task i runs shard i/N", Required = true }.AtLeast(1);
        var scale = new Option<string>("--scale") { Description = "paper, cpu or quick", DefaultValueFactory = _ => "paper" };
        var replicates = new Option<int?>("--replicates") { Description = "replicates per setting (default: the experiment's)" }.AtLeast(1);
        var backend = new Option<string>("--backend") { Description = "cpu, cuda, emulator or auto, for every task", DefaultValueFactory = _ => "auto" };
        var jobs = new Option<string>("--jobs") { Description = "runs at once inside each task (experiment run --jobs)", DefaultValueFactory = _ => "1" };
        var partition = new Option<string?>("--partition") { Description = "sbatch --partition" };
        var gres = new Option<string?>("--gres") { Description = "sbatch --gres for each task, e.g. gpu:1" };
        var time = new Option<string?>("--time") { Description = "sbatch --time for each task, e.g. 04:00:00" };
        var cpus = new Option<int?>("--cpus-per-task") { Description = "sbatch --cpus-per-task" }.AtLeast(1);
        var rff = new Option<string?>("--rff") { Description = "the rawflipflop command the tasks run (default: this one)" };
        var outDir = new Option<string>("--out") { Description = "output directory on storage every node sees: slurm/ scripts and logs, shards/, results.db, report/", Required = true };
        var dryRun = new Option<bool>("--dry-run") { Description = "write the scripts and print the sbatch commands without submitting" };
        var cmd = new Command("submit", "Run an experiment on a Slurm cluster: a job array of shards, then a dependent job that merges them and writes the report.")
        {
            name, slurm, array, scale, replicates, backend, jobs, partition, gres, time, cpus, rff, outDir, dryRun,
        };
        cmd.SetAction(r =>
        {
            if (!r.GetValue(slurm)) throw new CliException("--slurm: choose a scheduler (Slurm is the only one so far)");
            ExperimentDefinition definition;
            try { definition = ExperimentCatalog.ByName(r.GetValue(name)!); }
            catch (ArgumentException e) { throw new CliException(e.Message); }
            var s = CliParse.Enum<Scale>(r.GetValue(scale)!, "--scale");
            int runs;
            try { runs = definition.Runs(s, r.GetValue(replicates)).Count; }
            catch (ArgumentException e) { throw new CliException(e.Message); }
            int n = r.GetValue(array);
            if (n > runs) throw new CliException($"--array {n}: {definition.Name} has {runs} runs at the {EnumText<Scale>.Of(s)} scale; at most one task per run");
            if (!Backend.Names.Contains(r.GetValue(backend)!))
                throw new CliException($"--backend must be one of {string.Join(", ", Backend.Names)}, got \"{r.GetValue(backend)}\"");
            string jobsText = r.GetValue(jobs)!;
            if (jobsText != "auto" && (!int.TryParse(jobsText, NumberStyles.None, CultureInfo.InvariantCulture, out int j) || j < 1))
                throw new CliException($"--jobs: must be a positive count or auto, got \"{jobsText}\"");
            foreach (var (option, value) in new[] { ("--partition", r.GetValue(partition)), ("--gres", r.GetValue(gres)), ("--time", r.GetValue(time)) })
                if (value != null && (value.Length == 0 || value.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$' or '`' or '\\' or ';')))
                    throw new CliException($"{option}: \"{value}\" is not a Slurm value (no spaces, quotes or shell characters)");

            string dir = Path.GetFullPath(r.GetValue(outDir)!);
            if (dir.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$' or '`' or '\\' or '%'))
                throw new CliException($"--out {dir}: Slurm's #SBATCH lines cannot hold spaces, quotes or % in a path; choose another directory");
            string command = r.GetValue(rff) ?? ThisCommand();
            string common = $"--scale {EnumText<Scale>.Of(s)}{(r.GetValue(replicates) is { } rep ? $" --replicates {rep}" : "")} --backend {r.GetValue(backend)} --jobs {jobsText}";
            var header = new StringBuilder();
            void Directive(string text) => header.Append("#SBATCH ").AppendLine(text);
            string job = $"rff-{definition.Name}";
            var arrayScript = new StringBuilder("#!/usr/bin/env bash\n");
            Directive($"--job-name={job}");
            Directive($"--array=1-{n}");
            Directive($"--output={dir}/slurm/logs/{job}-%A_%a.out");
            if (r.GetValue(partition) is { } p) Directive($"--partition={p}");
            if (r.GetValue(gres) is { } g) Directive($"--gres={g}");
            if (r.GetValue(time) is { } t) Directive($"--time={t}");
            if (r.GetValue(cpus) is { } c) Directive($"--cpus-per-task={c}");
            arrayScript.Append(header).Append($$"""
                # task i of {{n}} trains runs i, i+{{n}}, i+2*{{n}}, ... (1-based) of {{definition.Name}} into its own store; started again, it resumes
                set -euo pipefail
                i=${SLURM_ARRAY_TASK_ID:?this script runs as a task of a Slurm job array}
                exec {{command}} experiment run {{definition.Name}} {{common}} --shard "$i/{{n}}" --out "{{dir}}/shards/$i"

                """);
            var mergeScript = new StringBuilder("#!/usr/bin/env bash\n");
            mergeScript.AppendLine($"#SBATCH --job-name={job}-merge").AppendLine($"#SBATCH --output={dir}/slurm/logs/{job}-merge-%j.out");
            if (r.GetValue(partition) is { } p2) mergeScript.AppendLine($"#SBATCH --partition={p2}");
            string shards = string.Join(" ", Enumerable.Range(1, n).Select(i => $"\"{dir}/shards/{i}/results.db\""));
            mergeScript.Append($$"""
                # after every task of the array succeeded: one store and its report
                set -euo pipefail
                {{command}} experiment merge --into "{{dir}}/results.db" {{shards}}
                exec {{command}} experiment report --db "{{dir}}/results.db" --out "{{dir}}/report"

                """);
            Directory.CreateDirectory(Path.Combine(dir, "slurm", "logs"));
            string arrayPath = Path.Combine(dir, "slurm", "array.sbatch"), mergePath = Path.Combine(dir, "slurm", "merge.sbatch");
            AtomicFile.WriteAllText(arrayPath, arrayScript.ToString());
            AtomicFile.WriteAllText(mergePath, mergeScript.ToString());
            output.Out.WriteLine($"wrote {arrayPath} ({n} tasks over {runs} runs) and {mergePath}");
            if (r.GetValue(dryRun))
            {
                output.Out.WriteLine($"sbatch --parsable {arrayPath}");
                output.Out.WriteLine($"sbatch --parsable --dependency=afterok:ARRAY_JOB_ID {mergePath}");
                return 0;
            }
            string arrayId = Sbatch(["--parsable", arrayPath]);
            string mergeId = Sbatch(["--parsable", $"--dependency=afterok:{arrayId}", mergePath]);
            output.Out.WriteLine($"submitted array job {arrayId} ({n} tasks) and merge job {mergeId} (after all of them succeed)");
            return 0;
        });
        return cmd;
    }

    /// <summary>How this process was started: the apphost, or dotnet and the entry assembly.</summary>
    static string ThisCommand()
    {
        string process = Environment.ProcessPath ?? "rawflipflop";
        string entry = System.Reflection.Assembly.GetEntryAssembly()?.Location ?? "";
        bool viaDotnet = Path.GetFileNameWithoutExtension(process) == "dotnet" && entry.EndsWith(".dll", StringComparison.Ordinal);
        bool underTest = !viaDotnet && !Path.GetFileNameWithoutExtension(process).StartsWith("rawflipflop", StringComparison.Ordinal);
        string apphost = Path.Combine(AppContext.BaseDirectory, "rawflipflop");
        if (viaDotnet) return $"\"{process}\" \"{entry}\"";
        if (underTest && File.Exists(apphost)) return $"\"{apphost}\"";
        return $"\"{process}\"";
    }

    /// <summary>Runs sbatch and returns the job id it prints (--parsable: ID or ID;CLUSTER).</summary>
    static string Sbatch(string[] args)
    {
        var info = new ProcessStartInfo("sbatch") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        Process process;
        try { process = Process.Start(info) ?? throw new CliException("sbatch: could not be started", ExitCodes.Failure); }
        catch (System.ComponentModel.Win32Exception)
        {
            throw new CliException("--slurm: sbatch is not on PATH (is this a Slurm login node?); use --dry-run to write the scripts only", ExitCodes.Failure);
        }
        using (process)
        {
            string stdout = process.StandardOutput.ReadToEnd(), stderr = process.StandardError.ReadToEnd();
            process.WaitForExit();
            string id = stdout.Trim().Split(';')[0];
            if (process.ExitCode != 0 || id.Length == 0 || !id.All(char.IsAsciiDigit))
                throw new CliException($"sbatch {string.Join(" ", args)}: exit {process.ExitCode}: {(stderr + stdout).Trim()}", ExitCodes.Failure);
            return id;
        }
    }
}
