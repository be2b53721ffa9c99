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
/// How a run queues its steps. <see cref="LossReadInterval"/>: losses are copied back asynchronously and read every
/// that many steps (and at every online evaluation, checkpoint and the last step), so the host never waits for the
/// device mid-step; the recorded curve is the same for every interval. <see cref="DeviceGraphs"/>: a kernel device
/// runs each step as one graph launch (<see cref="StepGraph"/>), with the same bits as separate launches.
/// </summary>
public sealed record StepExecution(int LossReadInterval, bool DeviceGraphs)
{
    /// <summary>Kernel devices (GPU, emulator): losses read every 16 steps, graphs on. The CPU: every step, no graphs (it gains nothing).</summary>
    public static StepExecution For(IDevice device) => device is IKernelDevice ? new(16, true) : new(1, false);

    public StepExecution Validate()
    {
        InvalidOptionException.Require(LossReadInterval >= 1, "loss_read_interval", $"must be at least 1, got {LossReadInterval}");
        return this;
    }
}

/// <summary>
/// The training loop: the task's batch for each step, forward, fused cross-entropy, backward, AdamW with the
/// warm-up/linear-decay schedule, and online evaluation on the task's fixed set with best-so-far tracking. Steps are
/// 1-based; the state after step k depends only on the options, so a run can be saved and resumed bit-identically.
/// Steps are queued without waiting for the device (<see cref="StepExecution"/>): each batch goes up from page-locked
/// staging, the step runs as a device graph where the device has them, the loss comes back asynchronously and is read
/// every few steps. A non-finite loss sets a flag on the device that stops every later AdamW update
/// (<see cref="IOps{T}.LossGuard"/>), so when the host reads it the state is still the one before that step.
/// </summary>
public sealed class TrainingRun<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    // Staging slots for batches: the host fills one while the device copies the other.
    const int StagingSlots = 2;

    readonly LearningRateSchedule _schedule;
    // (B,T) token ids and targets (-1 = not scored) on the device; (B,T) losses; (B,T,V) logit gradients; (1) loss sum;
    // (1) the divergence flag (1 once a loss was not finite: AdamW skips from then on)
    readonly Buf<int> _tokens, _targets, _diverged;
    readonly Buf<T> _losses, _dlogits, _lossSum;
    // host staging: one batch as sampled (B,T); per slot, page-locked tokens and targets (B,T) and the fence after their copy
    readonly byte[] _batchTokens;
    readonly int[] _sampledTargets;
    readonly HostBuf<int>[] _stagedTokens = new HostBuf<int>[StagingSlots], _stagedTargets = new HostBuf<int>[StagingSlots];
    readonly DeviceFence[] _stagingFences = new DeviceFence[StagingSlots];
    // read-back ring: (interval) loss sums and (interval, regularizer values) of the queued steps; the fence before reading them
    readonly HostBuf<T> _lossRing;
    HostBuf<T> _regularizerRing;
    long _regularizerWidth;
    readonly DeviceFence _readFence;
    readonly List<PendingStep> _queued = [];
    readonly StepGraph _graph;

    readonly record struct PendingStep(int Step, int Scored, Func<ReadOnlySpan<T>, double>? Regularizer, int RegularizerLength);

    public TrainingRun(TrainOptions options, ModelBase<T> model, StepExecution? execution = null)
    {
        Options = options.Validate();
        Model = model;
        Task = TrainingTasks.For(options);
        var device = model.Ops.Device;
        Execution = (execution ?? StepExecution.For(device)).Validate();
        Optimizer = new AdamW<T>(model.Ops, model.Layout.Count, options.AdamBeta1, options.AdamBeta2, options.AdamEpsilon, options.WeightDecay);
        _schedule = new LearningRateSchedule(options.LearningRate, options.Warmup, options.ScheduleTotal);
        long n = (long)options.Batch * options.Length;
        _tokens = device.Allocate<int>(n);
        _targets = device.Allocate<int>(n);
        _diverged = device.Allocate<int>(1);
        _losses = device.Allocate<T>(n);
        _dlogits = device.Allocate<T>(n * model.Config.VocabSize);
        _lossSum = device.Allocate<T>(1);
        _batchTokens = new byte[n];
        _sampledTargets = new int[n];
        for (int i = 0; i < StagingSlots; i++)
        {
            _stagedTokens[i] = device.AllocateHost<int>(n);
            _stagedTargets[i] = device.AllocateHost<int>(n);
            _stagingFences[i] = device.CreateFence();
        }
        _lossRing = device.AllocateHost<T>(Execution.LossReadInterval);
        _readFence = device.CreateFence();
        _graph = new StepGraph(device, Execution.DeviceGraphs);
    }

    public TrainOptions Options { get; }
    public StepExecution Execution { get; }
    public ModelBase<T> Model { get; }
    public ITrainingTask Task { get; }
    public AdamW<T> Optimizer { get; }
    /// <summary>How the steps ran: graph captures, launches and direct runs, and why not as graphs.</summary>
    public StepGraph Graph => _graph;
    /// <summary>Steps done (their losses read back).</summary>
    public int Step { get; private set; }
    /// <summary>Steps queued on the device, read back or not.</summary>
    public int QueuedStep => Step + _queued.Count;
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

    /// <summary>Runs steps until <paramref name="untilStep"/> (default: all), reporting progress after each as its loss is read.</summary>
    public void Run(Action<TrainProgress>? progress = null, int? untilStep = null, CancellationToken cancel = default)
    {
        int last = Math.Min(untilStep ?? Options.Steps, Options.Steps);
        var clock = Stopwatch.StartNew();
        var before = TrainTime;
        while (QueuedStep < last && DivergedAt == null)
        {
            if (cancel.IsCancellationRequested)
            {
                ReadBack(Report);  // what was queued is done: the state stays consistent with Step
                cancel.ThrowIfCancellationRequested();
            }
            int step = Queue();
            // Read back at the interval, and wherever the caller may look at the state (evaluation, checkpoint, the end).
            if (_queued.Count >= Execution.LossReadInterval || step == last || step == Options.Steps ||
                (Options.EvalEvery > 0 && step % Options.EvalEvery == 0))
                ReadBack(Report);
        }
        ReadBack(Report);

        void Report(int step, double loss)
        {
            if (Task.Online != null && Options.EvaluatesOnlineAt(step)) EvaluateOnline();
            TrainTime = before + clock.Elapsed;
            progress?.Invoke(new TrainProgress(step, Options.Steps, loss, Online.Count == 0 ? null : Online[^1], TrainTime));
        }
    }

    /// <summary>
    /// One optimisation step, read back at once; returns the cross-entropy loss of the batch. A non-finite loss ends
    /// the run: the step is recorded in <see cref="DivergedAt"/> and its loss in <see cref="Losses"/>, and no update is applied.
    /// </summary>
    public double TrainStep()
    {
        if (DivergedAt != null) throw new InvalidOperationException($"the run diverged at step {DivergedAt}");
        Queue();
        ReadBack();
        return Losses[^1];
    }

    /// <summary>Queues the next step on the device without waiting for it; returns its number.</summary>
    int Queue()
    {
        int step = QueuedStep + 1;
        int b = Options.Batch, t = Options.Length, n = b * t;
        var ops = Model.Ops;
        var device = ops.Device;
        int scored = Task.SampleBatch(step, _batchTokens, _sampledTargets);
        int slot = step % StagingSlots;
        _stagingFences[slot].Wait();  // the copy that last read this slot is done
        var tokens = _stagedTokens[slot].Span;
        for (int i = 0; i < n; i++) tokens[i] = _batchTokens[i];
        _sampledTargets.CopyTo(_stagedTargets[slot].Span);
        device.UploadAsync(_stagedTokens[slot], _tokens);
        device.UploadAsync(_stagedTargets[slot], _targets);
        _stagingFences[slot].Record();

        var pass = Options.PassAt(step);
        T dscale = scored == 0 ? T.Zero : T.One / T.CreateTruncating(scored);
        double learningRate = _schedule.At(step);
        Optimizer.Steps = step;
        // The pass only queues work and changes no host state, so the graph may run it more than once (to match, then capture).
        _graph.Run(() =>
        {
            Model.ZeroGradients();
            var logits = Model.Forward(_tokens, b, t, pass);
            ops.CrossEntropyForwardBackward(_losses, _dlogits, logits, _targets, dscale, n, Model.Config.VocabSize);
            ops.SumForward(_lossSum, _losses, n);
            ops.LossGuard(_diverged, _lossSum);
            Model.Backward(_dlogits, pass);
            Optimizer.Apply(Model.Parameters, Model.Gradients, learningRate, _diverged);
        });

        int index = _queued.Count;
        device.DownloadAsync(_lossSum, _lossRing.Slice(index, 1));
        Func<ReadOnlySpan<T>, double>? regularizer = null;
        int regularizerLength = 0;
        if (Options.Sharpen != 0)
        {
            var reading = Model.RegularizerReading;
            regularizer = reading.Loss;
            regularizerLength = (int)reading.Values.Length;
            if (regularizerLength > 0)
                device.DownloadAsync(reading.Values, RegularizerSlot(index, regularizerLength));
        }
        _queued.Add(new PendingStep(step, scored, regularizer, regularizerLength));
        return step;
    }

    HostBuf<T> RegularizerSlot(int index, long length)
    {
        if (length > _regularizerWidth)
        {
            // A wider ring (the first sharpened step): the values already copied for queued steps move over once they are in.
            var device = Model.Ops.Device;
            var ring = device.AllocateHost<T>(length * Execution.LossReadInterval);
            if (_regularizerWidth > 0)
            {
                _readFence.Record();
                _readFence.Wait();
                for (int i = 0; i < _queued.Count; i++)
                    _regularizerRing.Slice(i * _regularizerWidth, _queued[i].RegularizerLength).Span.CopyTo(ring.Slice(i * length, length).Span);
                device.FreeHost(_regularizerRing);
            }
            (_regularizerRing, _regularizerWidth) = (ring, length);
        }
        return _regularizerRing.Slice(index * _regularizerWidth, length);
    }

    /// <summary>
    /// Waits for the queued steps and records their losses in order. At the first non-finite loss the run ends there:
    /// the device skipped that update and every later one, so the state is the one after the step before.
    /// </summary>
    void ReadBack(Action<int, double>? report = null)
    {
        if (_queued.Count == 0) return;
        _readFence.Record();
        _readFence.Wait();
        var steps = _queued.ToArray();
        _queued.Clear();
        for (int i = 0; i < steps.Length; i++)
        {
            var q = steps[i];
            double loss = q.Scored == 0 ? 0 : double.CreateTruncating(_lossRing.Span[i]) / q.Scored;
            Losses.Add(loss);
            if (!double.IsFinite(loss))
            {
                DivergedAt = q.Step;
                Optimizer.Steps = q.Step - 1;
                return;
            }
            Step = q.Step;
            if (q.Regularizer != null)
                Regularizer.Add(q.Regularizer(q.RegularizerLength == 0 ? [] : _regularizerRing.Slice(i * _regularizerWidth, q.RegularizerLength).Span));
            report?.Invoke(q.Step, loss);
        }
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
        device.Free(_tokens); device.Free(_targets); device.Free(_diverged); device.Free(_losses); device.Free(_dlogits); device.Free(_lossSum);
        for (int i = 0; i < StagingSlots; i++)
        {
            device.FreeHost(_stagedTokens[i]); device.FreeHost(_stagedTargets[i]);
            _stagingFences[i].Dispose();
        }
        device.FreeHost(_lossRing);
        if (_regularizerWidth > 0) device.FreeHost(_regularizerRing);
        _readFence.Dispose();
        _graph.Dispose();
        Optimizer.Dispose();
    }
}
