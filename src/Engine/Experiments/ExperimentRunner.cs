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
/// With <c>jobs</c> &gt; 1, that many runs train at once in this process, each on its own backend (its own device,
/// stream and host thread); on the CPU the cores are divided among them (each job's parallel loops run on a scheduler
/// limited to cores / jobs threads). Work splits do not depend on the core count, so every run's results are
/// bit-identical to a sequential run. Store writes and progress reports are serialised.
/// </summary>
public sealed class ExperimentRunner
{
    public const string StoreName = "results.db";

    readonly string outDir;
    readonly Scale scale;
    readonly Func<Backend> openBackend;
    readonly Backend? sharedBackend;
    readonly int jobs;

    /// <summary>Runs one run at a time on <paramref name="backend"/> (owned by the caller).</summary>
    public ExperimentRunner(string outDir, Scale scale, Backend backend) : this(outDir, scale, () => backend, 1) => sharedBackend = backend;

    /// <summary>Runs <paramref name="jobs"/> runs at once, each on a backend of its own from <paramref name="openBackend"/> (disposed here).</summary>
    public ExperimentRunner(string outDir, Scale scale, Func<Backend> openBackend, int jobs)
    {
        if (jobs < 1) throw new ArgumentOutOfRangeException(nameof(jobs), $"jobs must be at least 1, got {jobs}");
        this.outDir = outDir;
        this.scale = scale;
        this.openBackend = openBackend;
        this.jobs = jobs;
    }

    public string StorePath => Path.Combine(outDir, StoreName);

    public string RunDir(RunSpec spec) => Path.Combine(outDir, "runs", spec.Experiment, spec.Setting, spec.Replicate.ToString(CultureInfo.InvariantCulture));

    /// <summary>The runs of shard i of n (1-based): every n-th run starting at i - 1.</summary>
    public static IReadOnlyList<RunSpec> Shard(IReadOnlyList<RunSpec> runs, int index, int count)
    {
        if (count < 1 || index < 1 || index > count) throw new ArgumentException($"shard {index}/{count}: need 1 <= i <= n");
        return runs.Where((_, k) => k % count == index - 1).ToList();
    }

    public void Run(IReadOnlyList<RunSpec> runs, Action<RunnerEvent>? report = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(outDir);
        using var store = ResultsStore.Open(StorePath);
        // Refuse before any work when the store holds one of these runs with other options.
        foreach (var spec in runs)
            if (store.Run(spec.Id) is { } stored && stored.OptionsHash != OptionsSchema.Hash(spec.Options))
                throw new OptionsMismatchException($"run {spec.Id} in {StorePath}", OptionsSchema.Differences(
                    System.Text.Json.Nodes.JsonNode.Parse(stored.OptionsJson), OptionsSchema.ToJson(spec.Options)));
        var work = new Work(runs, new SharedStore(store), report);
        if (jobs == 1)
        {
            if (sharedBackend != null) Worker(work, sharedBackend, cancel);
            else { using var backend = openBackend(); Worker(work, backend, cancel); }
            return;
        }
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        // Each job's parallel loops run on a scheduler of cores / jobs threads: the cores are divided, not oversubscribed.
        int threads = Math.Max(1, Environment.ProcessorCount / jobs);
        var workers = Enumerable.Range(0, Math.Min(jobs, runs.Count)).Select(_ =>
            Task.Factory.StartNew(() =>
            {
                try
                {
                    using var backend = openBackend();
                    Worker(work, backend, failed.Token);
                }
                catch
                {
                    failed.Cancel(); // stop the other jobs at their next step; their state is saved for resuming
                    throw;
                }
            }, failed.Token, TaskCreationOptions.DenyChildAttach, new ConcurrentExclusiveSchedulerPair(TaskScheduler.Default, threads).ConcurrentScheduler)).ToArray();
        try { Task.WaitAll(workers); }
        catch (AggregateException e)
        {
            var first = e.Flatten().InnerExceptions.FirstOrDefault(x => x is not OperationCanceledException) ?? e.Flatten().InnerExceptions[0];
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(first).Throw();
        }
    }

    /// <summary>The queue of runs the jobs take from, the store and the report, all shared by the jobs.</summary>
    sealed class Work(IReadOnlyList<RunSpec> runs, SharedStore store, Action<RunnerEvent>? report)
    {
        int _next = -1;
        readonly object _reportLock = new();

        public int Total => runs.Count;
        public SharedStore Store => store;

        public bool TryTake(out int index, out RunSpec spec)
        {
            index = Interlocked.Increment(ref _next);
            spec = index < runs.Count ? runs[index] : null!;
            return index < runs.Count;
        }

        public void Report(RunnerEvent e)
        {
            if (report == null) return;
            lock (_reportLock) report(e);
        }
    }

    /// <summary>The store behind a lock: one SQLite connection is not shared between threads.</summary>
    sealed class SharedStore(ResultsStore store)
    {
        public T Do<T>(Func<ResultsStore, T> action) { lock (store) return action(store); }
        public void Do(Action<ResultsStore> action) { lock (store) action(store); }
    }

    void Worker(Work work, Backend backend, CancellationToken cancel)
    {
        var store = work.Store;
        bool IsDone(RunSpec spec) => store.Do(s => s.Run(spec.Id)?.Status is RunStatus.Finished or RunStatus.Diverged);
        while (work.TryTake(out int index, out var spec))
        {
            cancel.ThrowIfCancellationRequested();
            if (IsDone(spec))
            {
                work.Report(new RunnerEvent(spec, index, work.Total, null, SkipReason.Finished));
                continue;
            }
            var job = new TrainingJob(spec.Options, backend);
            using var directory = RunDirectory.TryOpen(RunDir(spec), out string holder);
            if (directory == null)
            {
                work.Report(new RunnerEvent(spec, index, work.Total, null, SkipReason.Claimed, holder));
                continue;
            }
            if (IsDone(spec)) // finished by another process between the check and the claim
            {
                work.Report(new RunnerEvent(spec, index, work.Total, null, SkipReason.Finished));
                continue;
            }
            store.Do(s => s.Begin(spec, scale, backend.Name));
            job.Run(directory, new SyncProgress<JobEvent>(e =>
            {
                if (e.Phase == JobPhase.Checkpoint) store.Do(s => s.Progress(spec.Id, e.Run.Step, e.Run.TrainTime.TotalSeconds, e.Run.Losses, e.Run.Online, e.Run.Diagnostics));
                if (e.Phase == JobPhase.Done) store.Do(s => s.Finish(spec.Id, e.Summary!));
                work.Report(new RunnerEvent(spec, index, work.Total, e));
            }), cancel);
        }
    }
}
