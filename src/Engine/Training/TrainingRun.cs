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
    readonly AutomatonSampler? _automaton;
    readonly AutomatonDataset? _automatonOnline;
    byte[] _states = [];

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
        if (options.Task == TrainingTask.Automaton)
        {
            _automaton = new AutomatonSampler(options.AutomatonPWrite);
            _states = new byte[n];
            if (options.EvalEvery > 0 && options.EvalCount > 0)
                _automatonOnline = _automaton.SampleMany(AutomatonOnlineSeed, 0, options.EvalCount, options.Length);
        }
        else if (options.EvalEvery > 0 && options.EvalCount > 0)
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
            if (Options.EvalEvery > 0 && (_onlineEvaluator != null || _automatonOnline != null) && (Step % Options.EvalEvery == 0 || Step == Options.Steps))
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
        int scored;
        if (_automaton != null)
        {
            for (int s = 0; s < b; s++)
                _automaton.Sample(Options.DataSeed, (long)(step - 1) * b + s, _batchTokens.AsSpan(s * t, t), _states.AsSpan(s * t, t));
            for (int i = 0; i < n; i++) _hostTargets[i] = _states[i];
            scored = n;
        }
        else
        {
            SampleBatch(step, _batchTokens);
            scored = LossTargets.Build(_batchTokens, b, t, Options.Mode, _hostTargets);
        }
        for (int i = 0; i < n; i++) _hostInts[i] = _batchTokens[i];
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

    /// <summary>Seed of the fixed automaton evaluation set (online and offline).</summary>
    public const ulong AutomatonOnlineSeed = 1_000_005;

    public OnlineEvaluation EvaluateOnline()
    {
        OnlineEvaluation result;
        if (_automatonOnline != null)
        {
            var (positions, errors, sequences) = AutomatonErrors(Model, _automatonOnline, Options.Batch);
            result = new OnlineEvaluation(Step, positions, errors, sequences);
        }
        else
        {
            var counter = _onlineEvaluator!.Evaluate("online", _online!, Step);
            result = new OnlineEvaluation(Step, counter.Reads, counter.Errors, counter.SequencesWithErrors);
        }
        Online.Add(result);
        if (Best == null || result.Errors < Best.Errors)
        {
            Best = result;
            BestParameters = Model.Ops.Device.ToArray(Model.Parameters);
        }
        return result;
    }

    /// <summary>Automaton task: (positions, positions whose argmax is not the state, sequences with an error).</summary>
    public static (long Positions, long Errors, long Sequences) AutomatonErrors(IModel<T> model, AutomatonDataset data, int batch)
    {
        var device = model.Ops.Device;
        int t = data.Length;
        long positions = 0, errors = 0, sequences = 0;
        var tokens = device.Allocate<int>((long)batch * t);
        var predictions = device.Allocate<int>((long)batch * t);
        try
        {
            var host = new int[batch * t];
            var pred = new int[batch * t];
            for (int first = 0; first < data.Count; first += batch)
            {
                int b = Math.Min(batch, data.Count - first), n = b * t;
                for (int i = 0; i < n; i++) host[i] = data.Inputs[first * t + i];
                device.Upload<int>(host.AsSpan(0, n), tokens.Slice(0, n));
                var logits = model.Forward(tokens.Slice(0, n), b, t, PassOptions.Evaluation);
                model.Ops.ArgmaxForward(predictions, logits, n, model.Config.VocabSize);
                device.Download(predictions.Slice(0, n), pred.AsSpan(0, n));
                for (int s = 0; s < b; s++)
                {
                    bool any = false;
                    for (int i = 0; i < t; i++)
                    {
                        positions++;
                        if (pred[s * t + i] != data.States[(first + s) * t + i]) { errors++; any = true; }
                    }
                    if (any) sequences++;
                }
            }
        }
        finally { device.Free(tokens); device.Free(predictions); }
        return (positions, errors, sequences);
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
