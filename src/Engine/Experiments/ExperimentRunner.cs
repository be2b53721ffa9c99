using System.Globalization;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Engine.Experiments;

/// <summary>Why the runner passed over a run.</summary>
public enum SkipReason
{
    /// <summary>The store has it finished (or diverged) with the same options.</summary>
    Finished,
    /// <summary>Another process holds the run's directory: it is training it now.</summary>
    Claimed,
}

/// <summary>What the runner reports while it works: a job's event, or a run it skipped and why (<see cref="Note"/>: who holds it).</summary>
public sealed record RunnerEvent(RunSpec Spec, int Index, int Total, JobEvent? Job, SkipReason? Skipped = null, string? Note = null);

/// <summary>
/// Runs the specs of an experiment into an output directory: results.db (the store) and runs/EXPERIMENT/SETTING/R/
/// (each run's directory, see <see cref="RunDirectory"/>), one <see cref="TrainingJob"/> per run. A run is identified
/// by its id and the hash of its options: a finished run with the same options is skipped, an unfinished one resumes
/// from its saved state, and a run stored with other options is refused, naming the fields that differ. Several
/// processes may work on one directory: each run is claimed through its directory's lock, so no run is trained twice at
/// once; a process passes over the runs others hold, and the store serialises their writes.
/// </summary>
public sealed class ExperimentRunner(string outDir, Scale scale, Backend backend)
{
    public const string StoreName = "results.db";

    public string StorePath => Path.Combine(outDir, StoreName);

    public string RunDir(RunSpec spec) => Path.Combine(outDir, "runs", spec.Experiment, spec.Setting, spec.Replicate.ToString(CultureInfo.InvariantCulture));

    /// <summary>The runs of shard i of n (1-based): every n-th run starting at i - 1.</summary>
    public static IReadOnlyList<RunSpec> Shard(IReadOnlyList<RunSpec> runs, int index, int count)
    {
        if (count < 1 || index < 1 || index > count) throw new ArgumentException($"shard {index}/{count}: need 1 <= i <= n");
        return runs.Where((_, k) => k % count == index - 1).ToList();
    }

    static bool IsDone(ResultsStore store, RunSpec spec) => store.Run(spec.Id)?.Status is RunStatus.Finished or RunStatus.Diverged;

    public void Run(IReadOnlyList<RunSpec> runs, Action<RunnerEvent>? report = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(outDir);
        using var store = ResultsStore.Open(StorePath);
        // Refuse before any work when the store holds one of these runs with other options.
        foreach (var spec in runs)
            if (store.Run(spec.Id) is { } stored && stored.OptionsHash != OptionsSchema.Hash(spec.Options))
                throw new OptionsMismatchException($"run {spec.Id} in {StorePath}", OptionsSchema.Differences(
                    System.Text.Json.Nodes.JsonNode.Parse(stored.OptionsJson), OptionsSchema.ToJson(spec.Options)));
        for (int k = 0; k < runs.Count; k++)
        {
            cancel.ThrowIfCancellationRequested();
            var spec = runs[k];
            if (IsDone(store, spec))
            {
                report?.Invoke(new RunnerEvent(spec, k, runs.Count, null, SkipReason.Finished));
                continue;
            }
            var job = new TrainingJob(spec.Options, backend);
            using var directory = RunDirectory.TryOpen(RunDir(spec), out string holder);
            if (directory == null)
            {
                report?.Invoke(new RunnerEvent(spec, k, runs.Count, null, SkipReason.Claimed, holder));
                continue;
            }
            if (IsDone(store, spec)) // finished by another process between the check and the claim
            {
                report?.Invoke(new RunnerEvent(spec, k, runs.Count, null, SkipReason.Finished));
                continue;
            }
            store.Begin(spec, scale, backend.Name);
            int index = k;
            job.Run(directory, new SyncProgress<JobEvent>(e =>
            {
                if (e.Phase == JobPhase.Checkpoint) store.Progress(spec.Id, e.Run.Step, e.Run.TrainTime.TotalSeconds, e.Run.Losses, e.Run.Online);
                if (e.Phase == JobPhase.Done) store.Finish(spec.Id, e.Summary!);
                report?.Invoke(new RunnerEvent(spec, index, runs.Count, e));
            }), cancel);
        }
    }
}
