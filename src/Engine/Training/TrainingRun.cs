using System.Diagnostics;
using System.Numerics;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training.Tasks;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training;

/// <summary>Progress of a run, reported after every step.</summary>
public sealed record TrainProgress(int Step, int Steps, double Loss, OnlineEvaluation? LastOnline, TimeSpan Elapsed)
{
    public TimeSpan Eta => Step == 0 ? TimeSpan.Zero : Elapsed / Step * (Steps - Step);
}

/// <summary>One online evaluation during training.</summary>
public sealed record OnlineEvaluation(int Step, long Reads, long Errors, long SequencesWithErrors);

/// <summary>
/// What a run looks like at an online evaluation besides its errors: the mean attention-row entropy of each layer over
/// the online set (nats; empty for the LSTM) and the Frobenius norm of every weight matrix (every 2-D parameter).
/// </summary>
public sealed record TrainingDiagnostics(int Step, IReadOnlyList<double> AttentionEntropy, IReadOnlyDictionary<string, double> WeightNorms)
{
    // Value equality over the contents (records compare collections by reference).
    public bool Equals(TrainingDiagnostics? other) => other is not null && Step == other.Step &&
        AttentionEntropy.SequenceEqual(other.AttentionEntropy) && WeightNorms.OrderBy(kv => kv.Key).SequenceEqual(other.WeightNorms.OrderBy(kv => kv.Key));

    public override int GetHashCode() => Step;
}

/// <summary>
/// The training loop: the task's batch for each step, forward, fused cross-entropy, backward, AdamW with the
/// warm-up/linear-decay schedule, and online evaluation on the task's fixed set with best-so-far tracking. Steps are
/// 1-based; the state after step k depends only on the options, so a run can be saved and resumed bit-identically.
/// </summary>
public sealed class TrainingRun<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly LearningRateSchedule _schedule;
    // (B,T) token ids and targets (-1 = not scored) on the device; (B,T) losses; (B,T,V) logit gradients; (1) loss sum
    readonly Buf<int> _tokens, _targets;
    readonly Buf<T> _losses, _dlogits, _lossSum;
    // host staging of one batch
    readonly byte[] _batchTokens;
    readonly int[] _hostTokens, _hostTargets;

    public TrainingRun(TrainOptions options, ModelBase<T> model)
    {
        Options = options.Validate();
        Model = model;
        Task = TrainingTasks.For(options);
        Optimizer = new AdamW<T>(model.Ops, model.Layout.Count, options.AdamBeta1, options.AdamBeta2, options.AdamEpsilon, options.WeightDecay);
        _schedule = new LearningRateSchedule(options.LearningRate, options.Warmup, options.ScheduleTotal);
        long n = (long)options.Batch * options.Length;
        var device = model.Ops.Device;
        _tokens = device.Allocate<int>(n);
        _targets = device.Allocate<int>(n);
        _losses = device.Allocate<T>(n);
        _dlogits = device.Allocate<T>(n * model.Config.VocabSize);
        _lossSum = device.Allocate<T>(1);
        _batchTokens = new byte[n];
        _hostTokens = new int[n];
        _hostTargets = new int[n];
    }

    public TrainOptions Options { get; }
    public ModelBase<T> Model { get; }
    public ITrainingTask Task { get; }
    public AdamW<T> Optimizer { get; }
    /// <summary>Steps done.</summary>
    public int Step { get; private set; }
    public List<double> Losses { get; } = [];
    /// <summary>The sharpening term per step (empty without sharpening).</summary>
    public List<double> Regularizer { get; } = [];
    public List<OnlineEvaluation> Online { get; } = [];
    /// <summary>Attention entropies and weight norms at each online evaluation.</summary>
    public List<TrainingDiagnostics> Diagnostics { get; } = [];
    /// <summary>Best online evaluation so far (fewest errors, earliest on ties) and a host copy of its weights.</summary>
    public OnlineEvaluation? Best { get; private set; }
    public T[]? BestParameters { get; private set; }
    public TimeSpan TrainTime { get; private set; }
    /// <summary>The step whose loss was NaN or infinite (its update was not applied); null while the run is sound.</summary>
    public int? DivergedAt { get; private set; }

    /// <summary>Runs steps until <paramref name="untilStep"/> (default: all), reporting progress after each.</summary>
    public void Run(Action<TrainProgress>? progress = null, int? untilStep = null, CancellationToken cancel = default)
    {
        int last = Math.Min(untilStep ?? Options.Steps, Options.Steps);
        var clock = Stopwatch.StartNew();
        var before = TrainTime;
        while (Step < last && DivergedAt == null)
        {
            cancel.ThrowIfCancellationRequested();
            double loss = TrainStep();
            if (DivergedAt != null) break;
            if (Task.Online != null && Options.EvaluatesOnlineAt(Step)) EvaluateOnline();
            TrainTime = before + clock.Elapsed;
            progress?.Invoke(new TrainProgress(Step, Options.Steps, loss, Online.Count == 0 ? null : Online[^1], TrainTime));
        }
    }

    /// <summary>
    /// One optimisation step; returns the cross-entropy loss of the batch. A non-finite loss ends the run: the step
    /// is recorded in <see cref="DivergedAt"/> and its loss in <see cref="Losses"/>, and no update is applied.
    /// </summary>
    public double TrainStep()
    {
        int step = Step + 1;
        int b = Options.Batch, t = Options.Length, n = b * t;
        var ops = Model.Ops;
        var device = ops.Device;
        int scored = Task.SampleBatch(step, _batchTokens, _hostTargets);
        for (int i = 0; i < n; i++) _hostTokens[i] = _batchTokens[i];
        device.Upload<int>(_hostTokens, _tokens);
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
        if (!double.IsFinite(loss))
        {
            Losses.Add(loss);
            DivergedAt = step;
            return loss;
        }
        Model.Backward(_dlogits, pass);
        Optimizer.Update(Model.Parameters, Model.Gradients, _schedule.At(step));
        Step = step;
        Losses.Add(loss);
        if (Options.Sharpen != 0) Regularizer.Add(Model.RegularizerLoss);
        return loss;
    }

    public OnlineEvaluation EvaluateOnline()
    {
        var split = Task.Online ?? throw new InvalidOperationException("online evaluation is off for this run");
        var r = split.Evaluate(Model, attentionEntropy: true);
        var result = new OnlineEvaluation(Step, r.Positions, r.Errors, r.SequencesWithErrors);
        Online.Add(result);
        Diagnostics.Add(new TrainingDiagnostics(Step, r.AttentionEntropy, WeightNorms()));
        if (Best == null || result.Errors < Best.Errors)
        {
            Best = result;
            BestParameters = Model.Ops.Device.ToArray(Model.Parameters);
        }
        return result;
    }

    /// <summary>The Frobenius norm of every weight matrix (2-D parameter tensor) of the current parameters, by name.</summary>
    public Dictionary<string, double> WeightNorms()
    {
        var host = Model.Ops.Device.ToArray(Model.Parameters);
        var norms = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var tensor in Model.Layout.Tensors.Where(t => t.Shape.Length == 2))
        {
            double sum = 0;
            foreach (var v in host.AsSpan((int)tensor.Offset, (int)tensor.Count))
            {
                double x = double.CreateTruncating(v);
                sum += x * x;
            }
            norms[tensor.Name] = Math.Sqrt(sum);
        }
        return norms;
    }

    /// <summary>Restores what a saved state of this run holds (the parameters and moments are uploaded by the caller).</summary>
    public void Restore(int step, IEnumerable<double> losses, IEnumerable<double> regularizer, IEnumerable<OnlineEvaluation> online,
        IEnumerable<TrainingDiagnostics> diagnostics, OnlineEvaluation? best, T[]? bestParameters, TimeSpan trainTime)
    {
        Diagnostics.Clear(); Diagnostics.AddRange(diagnostics);
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
    }
}
