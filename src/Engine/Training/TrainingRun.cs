using System.Diagnostics;
using System.Numerics;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Engine.Training;

/// <summary>Progress of a run, reported after every step.</summary>
public sealed record TrainProgress(int Step, int Steps, double Loss, ReadErrorReport? LastOnline, TimeSpan Elapsed)
{
    public TimeSpan Eta => Step == 0 ? TimeSpan.Zero : Elapsed / Step * (Steps - Step);
}

/// <summary>One online evaluation during training.</summary>
public sealed record OnlineEvaluation(int Step, long Reads, long Errors, long SequencesWithErrors);

/// <summary>
/// A training run: fresh batches from the data seed, AdamW with the warm-up/linear-decay schedule, online
/// evaluation every N steps on the fixed online set with best-so-far tracking. Steps are 1-based; the state
/// after step k depends only on the options, so a run can be checkpointed and resumed bit-identically.
/// </summary>
public sealed class TrainingRun<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly FlipFlopSampler _sampler;
    readonly LearningRateSchedule _schedule;
    readonly Buf<int> _tokens, _targets;
    readonly Buf<T> _losses, _dlogits, _lossSum;
    readonly byte[] _batchTokens;
    readonly int[] _hostInts, _hostTargets;
    readonly FlipFlopDataset? _online;
    readonly Evaluator<T>? _onlineEvaluator;

    public TrainingRun(TrainOptions options, ModelBase<T> model)
    {
        Options = options.Validate();
        Model = model;
        Optimizer = new AdamW<T>(model.Ops, model.Layout.Count, options.Beta1, options.Beta2, 1e-8, options.WeightDecay);
        _sampler = new FlipFlopSampler(options.Data);
        _schedule = new LearningRateSchedule(options.LearningRate, options.Warmup, options.ScheduleTotal);
        long n = (long)options.Batch * options.Length;
        var device = model.Ops.Device;
        _tokens = device.Allocate<int>(n);
        _targets = device.Allocate<int>(n);
        _losses = device.Allocate<T>(n);
        _dlogits = device.Allocate<T>(n * model.Config.VocabSize);
        _lossSum = device.Allocate<T>(1);
        _batchTokens = new byte[n];
        _hostInts = new int[n];
        _hostTargets = new int[n];
        if (options.EvalEvery > 0 && options.EvalCount > 0)
        {
            _online = EvaluationSets.Online.Generate(options.EvalCount, options.Length);
            _onlineEvaluator = new Evaluator<T>(model, options.EvalBatch ?? Evaluator<T>.DefaultBatch(model.Config), options.Length);
        }
    }

    public TrainOptions Options { get; }
    public ModelBase<T> Model { get; }
    public AdamW<T> Optimizer { get; }
    /// <summary>Steps done.</summary>
    public int Step { get; private set; }
    public List<double> Losses { get; } = [];
    /// <summary>The sharpening term per step (empty without sharpening).</summary>
    public List<double> Regularizer { get; } = [];
    public List<OnlineEvaluation> Online { get; } = [];
    /// <summary>Best online evaluation so far (fewest errors, earliest on ties) and a host copy of its weights.</summary>
    public OnlineEvaluation? Best { get; private set; }
    public T[]? BestParameters { get; private set; }
    public TimeSpan TrainTime { get; private set; }

    /// <summary>The tokens (B,T) of training batch <paramref name="step"/> (1-based): sequences (step-1)*B.. of the data stream.</summary>
    public void SampleBatch(int step, byte[] tokens) =>
        _sampler.SampleInto(Options.DataSeed, RandomDomain.Training, (long)(step - 1) * Options.Batch, tokens, Options.Length);

    /// <summary>Runs steps until <paramref name="untilStep"/> (default: all), reporting progress.</summary>
    public void Run(Action<TrainProgress>? progress = null, int? untilStep = null, CancellationToken cancel = default)
    {
        int last = Math.Min(untilStep ?? Options.Steps, Options.Steps);
        var clock = Stopwatch.StartNew();
        var before = TrainTime;
        while (Step < last)
        {
            cancel.ThrowIfCancellationRequested();
            double loss = TrainStep();
            if (Options.EvalEvery > 0 && _onlineEvaluator != null && (Step % Options.EvalEvery == 0 || Step == Options.Steps))
                EvaluateOnline();
            TrainTime = before + clock.Elapsed;
            progress?.Invoke(new TrainProgress(Step, Options.Steps, loss, LastOnlineReport, TrainTime));
        }
    }

    ReadErrorReport? LastOnlineReport => Online.Count == 0 ? null
        : new ReadErrorReport("online", Options.EvalCount, Online[^1].Reads, Online[^1].Errors, Online[^1].SequencesWithErrors, Online[^1].Step);

    /// <summary>One optimisation step; returns the cross-entropy loss of the batch.</summary>
    public double TrainStep()
    {
        int step = Step + 1;
        int b = Options.Batch, t = Options.Length, n = b * t;
        var ops = Model.Ops;
        var device = ops.Device;
        SampleBatch(step, _batchTokens);
        for (int i = 0; i < n; i++) _hostInts[i] = _batchTokens[i];
        int scored = LossTargets.Build(_batchTokens, b, t, Options.Mode, _hostTargets);
        device.Upload<int>(_hostInts, _tokens);
        device.Upload<int>(_hostTargets, _targets);
        var pass = Options.PassAt(step);
        Model.ZeroGradients();
        var logits = Model.Forward(_tokens, b, t, pass);
        T dscale = scored == 0 ? T.Zero : T.One / T.CreateTruncating(scored);
        ops.CrossEntropyForwardBackward(_losses, _dlogits, logits, _targets, dscale, n, Model.Config.VocabSize);
        ops.SumForward(_lossSum, _losses, n);
        var sum = new T[1];
        device.Download(_lossSum, sum);
        double loss = scored == 0 ? 0 : double.CreateTruncating(sum[0]) / scored;
        Model.Backward(_dlogits, pass);
        Optimizer.Update(Model.Parameters, Model.Gradients, _schedule.At(step));
        Step = step;
        Losses.Add(loss);
        if (Options.Sharpen != 0) Regularizer.Add(Model.RegularizerLoss);
        return loss;
    }

    public OnlineEvaluation EvaluateOnline()
    {
        var counter = _onlineEvaluator!.Evaluate("online", _online!, Step);
        var result = new OnlineEvaluation(Step, counter.Reads, counter.Errors, counter.SequencesWithErrors);
        Online.Add(result);
        if (Best == null || result.Errors < Best.Errors)
        {
            Best = result;
            BestParameters = Model.Ops.Device.ToArray(Model.Parameters);
        }
        return result;
    }

    /// <summary>Restores state saved by a checkpoint of this run (issue 6's resume uses it).</summary>
    public void Restore(int step, IEnumerable<double> losses, IEnumerable<double> regularizer, IEnumerable<OnlineEvaluation> online,
        OnlineEvaluation? best, T[]? bestParameters, TimeSpan trainTime)
    {
        Step = step;
        Optimizer.Steps = step;
        Losses.Clear(); Losses.AddRange(losses);
        Regularizer.Clear(); Regularizer.AddRange(regularizer);
        Online.Clear(); Online.AddRange(online);
        Best = best;
        BestParameters = bestParameters;
        TrainTime = trainTime;
    }

    public void Dispose()
    {
        var device = Model.Ops.Device;
        device.Free(_tokens); device.Free(_targets); device.Free(_losses); device.Free(_dlogits); device.Free(_lossSum);
        Optimizer.Dispose();
        _onlineEvaluator?.Dispose();
    }
}
