using System.Diagnostics;
using RawFlipFlop.Engine.Models;

namespace RawFlipFlop.Engine.Training;

/// <summary>What a job is doing when it reports.</summary>
public enum JobPhase
{
    /// <summary>The model is made; <see cref="JobEvent.ResumedAt"/> says whether a saved state was restored.</summary>
    Start,
    /// <summary>A step is done (<see cref="JobEvent.Training"/>).</summary>
    Train,
    /// <summary>The resumable state was saved after <see cref="JobEvent.Step"/> (curves so far in <see cref="JobEvent.Run"/>).</summary>
    Checkpoint,
    /// <summary>An offline evaluation pass progressed (<see cref="JobEvent.Evaluation"/>).</summary>
    Evaluate,
    /// <summary>The results are written (<see cref="JobEvent.Summary"/>).</summary>
    Done,
}

/// <summary>Progress of an offline evaluation pass, in sequences.</summary>
public sealed record EvaluationProgress(string Split, Iterate Iterate, int Done, int Total);

/// <summary>One report of a <see cref="TrainingJob"/>; which members are set depends on <see cref="Phase"/>.</summary>
public sealed record JobEvent(JobPhase Phase, TrainingRun<float> Run)
{
    public int Step => Run.Step;
    public int? ResumedAt { get; init; }
    public TrainProgress? Training { get; init; }
    public EvaluationProgress? Evaluation { get; init; }
    public TrainingSummary? Summary { get; init; }
}

/// <summary>
/// One training run from start to finish, the pipeline behind both `train` and `experiment run`: make and initialise
/// the model, resume from the directory's saved state when it has one (of the same options), train with online
/// evaluation and a saved state at every evaluation, evaluate the final and best-so-far iterates offline, and write
/// the checkpoints, the task's artifacts and summary.json. Progress goes to <paramref name="progress"/>, synchronously.
/// </summary>
public sealed class TrainingJob
{
    readonly Backend backend;
    readonly StepExecution? execution;

    /// <summary>
    /// Validates the options and, where the device's memory is the machine's (CPU, emulator), refuses a run that cannot
    /// fit. <paramref name="execution"/>: how steps are queued (default: <see cref="StepExecution.For"/> the device).
    /// </summary>
    public TrainingJob(TrainOptions options, Backend backend, StepExecution? execution = null)
    {
        Options = options.Validate();
        this.backend = backend;
        this.execution = execution?.Validate();
        if (backend.Device.IsHostMemory) TrainingMemory.Check(Options, backend.Ops);
    }

    public TrainOptions Options { get; }

    /// <summary>Runs the job in <paramref name="directory"/> (claimed by the caller).</summary>
    public TrainingSummary Run(RunDirectory directory, IProgress<JobEvent>? progress = null, CancellationToken cancel = default)
    {
        using var model = ModelFactory.Create(Options.Model, backend.Ops, Options.MatmulPrecision);
        model.Initialize(Options.Seed);
        using var run = new TrainingRun<float>(Options, model, execution);
        bool resumed = directory.TryRestore(run);
        progress?.Report(new JobEvent(JobPhase.Start, run) { ResumedAt = resumed ? run.Step : null });

        run.Run(p =>
        {
            if (Options.EvalEvery > 0 && (p.Step % Options.EvalEvery == 0 || p.Step == p.Steps))
            {
                directory.SaveState(run);
                progress?.Report(new JobEvent(JobPhase.Checkpoint, run));
            }
            progress?.Report(new JobEvent(JobPhase.Train, run) { Training = p });
        }, cancel: cancel);

        var evalClock = Stopwatch.StartNew();
        var evals = OfflineEvaluation.Run(run, (split, iterate, done, total) =>
            progress?.Report(new JobEvent(JobPhase.Evaluate, run) { Evaluation = new EvaluationProgress(split, iterate, done, total) }));
        var summary = new TrainingSummary
        {
            Status = run.DivergedAt == null ? RunStatus.Finished : RunStatus.Diverged, DivergedAt = run.DivergedAt, Options = Options, OptionsHash = OptionsSchema.Hash(Options),
            Params = model.Layout.Count, Steps = run.Step, Backend = backend.Name, Device = backend.Device.Description,
            FinalLoss = run.Losses.Count == 0 ? double.NaN : run.Losses[^1], Losses = run.Losses,
            SharpenLosses = Options.Sharpen != 0 ? run.Regularizer : null,
            TrainSeconds = run.TrainTime.TotalSeconds, EvalSeconds = evalClock.Elapsed.TotalSeconds, Online = run.Online,
            Diagnostics = run.Diagnostics,
            BestStep = run.Best?.Step, Eval = evals, EngineVersion = EngineInfo.Version,
        };
        directory.Publish(run, summary, run.DivergedAt == null ? run.Task.Artifacts(model) : []);
        progress?.Report(new JobEvent(JobPhase.Done, run) { Summary = summary });
        directory.DeleteState();
        return summary;
    }
}
