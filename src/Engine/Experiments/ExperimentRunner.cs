using System.Globalization;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Experiments;

/// <summary>What the runner reports while it works.</summary>
public sealed record RunnerEvent(RunSpec Spec, int Index, int Total, string Phase, TrainProgress? Progress, string? Note);

/// <summary>
/// Runs the specs of an experiment into an output directory: results.db (the store) and runs/ID/ (resumable
/// state, model.safetensors, best.safetensors, summary.json). Finished runs are skipped; unfinished runs resume
/// from their last state.
/// </summary>
public sealed class ExperimentRunner(string outDir, Scale scale, string backend, IOps<float> ops)
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

    public void Run(IReadOnlyList<RunSpec> runs, Action<RunnerEvent>? report = null, CancellationToken cancel = default)
    {
        Directory.CreateDirectory(outDir);
        using var store = new ResultsStore(StorePath);
        for (int k = 0; k < runs.Count; k++)
        {
            cancel.ThrowIfCancellationRequested();
            var spec = runs[k];
            if (store.Run(spec.Id)?.Status == "finished")
            {
                report?.Invoke(new RunnerEvent(spec, k, runs.Count, "skipped", null, "finished already"));
                continue;
            }
            RunOne(spec, k, runs.Count, store, report, cancel);
        }
    }

    void RunOne(RunSpec spec, int index, int total, ResultsStore store, Action<RunnerEvent>? report, CancellationToken cancel)
    {
        string dir = RunDir(spec);
        Directory.CreateDirectory(dir);
        store.Begin(spec, scale.ToString().ToLowerInvariant(), backend);
        using var model = ModelFactory.Create(spec.Options.Model, ops);
        model.Initialize(spec.Options.Seed);
        using var run = new TrainingRun<float>(spec.Options, model);
        bool resumed = RunState.TryRestore(dir, run);
        report?.Invoke(new RunnerEvent(spec, index, total, "start", null, resumed ? $"resumed at step {run.Step}" : null));
        int every = spec.Options.EvalEvery;
        run.Run(p =>
        {
            if (every > 0 && (p.Step % every == 0 || p.Step == p.Steps))
            {
                RunState.Save(dir, run);
                store.Progress(spec.Id, run.Step, run.TrainTime.TotalSeconds, run.Losses, run.Online);
            }
            report?.Invoke(new RunnerEvent(spec, index, total, "train", p, null));
        }, cancel: cancel);
        store.Progress(spec.Id, run.Step, run.TrainTime.TotalSeconds, run.Losses, run.Online);
        report?.Invoke(new RunnerEvent(spec, index, total, "eval", null, null));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var evals = OfflineEvaluation.Run(run);
        Checkpoint.Save(model, Path.Combine(dir, "model.safetensors"), new Dictionary<string, string> { ["step"] = run.Step.ToString(CultureInfo.InvariantCulture) });
        if (run.BestParameters != null)
            SafeTensors.Write(Path.Combine(dir, "best.safetensors"), Checkpoint.Tensors<float>(model.Layout, run.BestParameters),
                Checkpoint.Metadata(spec.Options.Model, new Dictionary<string, string> { ["step"] = run.Best!.Step.ToString(CultureInfo.InvariantCulture) }));
        if (spec.Options.Task == TrainingTask.Automaton && model is TransformerModel<float> transformer)
            AttentionMaps.Save(Path.Combine(dir, AttentionMaps.FileName), transformer, spec.Options);
        AtomicFile.WriteAllText(Path.Combine(dir, "summary.json"), Json.Serialize(TrainingSummary.Create(run, backend, evals, clock.Elapsed.TotalSeconds)));
        store.Finish(spec.Id, evals);
        report?.Invoke(new RunnerEvent(spec, index, total, "done", null, string.Join(", ",
            evals.Where(e => e.Iterate == "final").Select(e => $"{e.Split} {e.Errors}/{e.Reads}"))));
    }
}
