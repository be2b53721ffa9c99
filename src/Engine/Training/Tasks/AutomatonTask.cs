using System.Numerics;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;

namespace RawFlipFlop.Engine.Training.Tasks;

/// <summary>
/// The flip-flop automaton (paper Definition 1, Appendix B.5): inputs bottom/sigma0/sigma1 (ids 0/1/2, so
/// vocab_size 3), target at every position the state after that input (class 0 or 1 of the head); non-autoregressive.
/// Sequence k of batch `step` is automaton sequence (step-1)*B + k of the data seed. Online: EvalCount sequences of a
/// fixed seed; offline: EvalCount sequences of another fixed seed at the training length and, for a model without a
/// learned position table, at the drift length (Figure 11). The metric counts positions whose argmax is not the state.
/// Finished Transformers also get their attention maps (<see cref="AttentionMaps"/>).
/// </summary>
public sealed class AutomatonTask : ITrainingTask
{
    /// <summary>Seed of the fixed online set; the offline sets use the next seed.</summary>
    public const ulong OnlineSeed = 1_000_005;
    public const ulong OfflineSeed = OnlineSeed + 1;

    readonly TrainOptions _options;
    readonly AutomatonSampler _sampler;

    public AutomatonTask(TrainOptions options)
    {
        _options = options;
        _sampler = new AutomatonSampler(options.AutomatonPWrite);
        if (options.EvalEvery > 0 && options.EvalCount > 0)
            Online = new StateErrorSplit("online", _sampler, OnlineSeed, options.EvalCount, options.Length, options.Batch);
        int count = Math.Max(1, options.EvalCount);
        var offline = new List<ITaskSplit> { new StateErrorSplit("automaton", _sampler, OfflineSeed, count, options.Length, options.Batch) };
        if (options.Model.MaxSequenceLength == int.MaxValue)
        {
            int drift = DriftLength(options.Length);
            offline.Add(new StateErrorSplit($"automaton-{drift}", _sampler, OfflineSeed, count, drift, options.Batch));
        }
        Offline = offline;
    }

    /// <summary>The test length of the drift study (Figure 11): 834 for training length 500, the same ratio otherwise.</summary>
    public static int DriftLength(int trainLength) => trainLength == 500 ? 834 : (int)Math.Round(trainLength * 834.0 / 500);

    public static void Validate(TrainOptions options)
    {
        InvalidOptionException.Require(options.Model.VocabSize == Automaton.InputVocabulary, "model",
            $"the automaton task needs vocab_size {Automaton.InputVocabulary}, got {options.Model.VocabSize}");
        InvalidOptionException.Require(options.Length >= 1, "length", $"must be positive, got {options.Length}");
        InvalidOptionException.Require(options.AutomatonPWrite is >= 0 and <= 1, "automaton_p_write", $"must lie in [0, 1], got {options.AutomatonPWrite}");
        InvalidOptionException.Require(options.Offline.Count == 0, "offline",
            "names flip-flop evaluation sets; the automaton task evaluates on its own sets (use none)");
        InvalidOptionException.Require(options.Mode == LossMode.Clean, "mode",
            "the automaton task scores every position; the loss mode applies to flip-flop language modelling");
    }

    public ITaskSplit? Online { get; }
    public IReadOnlyList<ITaskSplit> Offline { get; }

    public int SampleBatch(int step, byte[] tokens, int[] targets)
    {
        int b = _options.Batch, t = _options.Length;
        var states = new byte[t];
        for (int s = 0; s < b; s++)
        {
            _sampler.Sample(_options.DataSeed, (long)(step - 1) * b + s, tokens.AsSpan(s * t, t), states);
            for (int i = 0; i < t; i++) targets[s * t + i] = states[i];
        }
        return b * t;
    }

    public IReadOnlyList<TaskArtifact> Artifacts(IModel<float> model) => model is TransformerModel<float> transformer
        ? [new TaskArtifact(AttentionMaps.FileName, path => AttentionMaps.Save(path, transformer, _options))]
        : [];

    /// <summary>
    /// A fixed automaton set: positions whose argmax differs from the automaton's state are errors. A position's
    /// dependency is its distance to the last write (sigma0 or sigma1) at or before it; before the first write the
    /// state is the initial one and the dependency counts from the sequence's start (position + 1).
    /// </summary>
    sealed class StateErrorSplit(string name, AutomatonSampler sampler, ulong seed, int count, int length, int batch) : ITaskSplit
    {
        AutomatonDataset? _data;

        public string Name => name;
        public int Count => count;

        public SplitResult Evaluate<T>(IModel<T> model, Action<int, int>? progress = null, bool attentionEntropy = false)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            var meter = attentionEntropy ? new AttentionEntropyMeter() : null;
            var data = _data ??= sampler.SampleMany(seed, 0, count, length);
            var device = model.Ops.Device;
            int vocab = model.Config.VocabSize;
            long positions = 0, errors = 0, sequences = 0;
            var byDependency = new SortedDictionary<int, (long Reads, long Errors)>();
            var glitches = new List<Glitch>();
            var tokens = device.Allocate<int>((long)batch * length);
            var predictions = device.Allocate<int>((long)batch * length);
            try
            {
                var host = new int[batch * length];
                var predicted = new int[batch * length];
                var hostLogits = new T[(long)batch * length * vocab];
                var rowLogits = new float[vocab];
                for (int first = 0; first < data.Count; first += batch)
                {
                    int b = Math.Min(batch, data.Count - first), n = b * length;
                    for (int i = 0; i < n; i++) host[i] = data.Inputs[first * length + i];
                    device.Upload<int>(host.AsSpan(0, n), tokens.Slice(0, n));
                    var logits = model.Forward(tokens.Slice(0, n), b, length, PassOptions.Evaluation);
                    meter?.Add(model);
                    model.Ops.ArgmaxForward(predictions, logits, n, vocab);
                    device.Download(predictions.Slice(0, n), predicted.AsSpan(0, n));
                    bool logitsHere = false;
                    for (int s = 0; s < b; s++)
                    {
                        bool any = false;
                        int lastWrite = -1;
                        for (int i = 0; i < length; i++)
                        {
                            int k = (first + s) * length + i;
                            if (data.Inputs[k] != Automaton.Bottom) lastWrite = i;
                            int dependency = i - lastWrite;
                            bool error = predicted[s * length + i] != data.States[k];
                            byDependency.TryGetValue(dependency, out var cell);
                            byDependency[dependency] = (cell.Reads + 1, cell.Errors + (error ? 1 : 0));
                            positions++;
                            if (!error) continue;
                            errors++;
                            any = true;
                            if (glitches.Count >= Glitch.MaxRecords) continue;
                            if (!logitsHere)
                            {
                                device.Download(logits.Slice(0, (long)n * vocab), hostLogits.AsSpan(0, n * vocab));
                                logitsHere = true;
                            }
                            for (int v = 0; v < vocab; v++) rowLogits[v] = float.CreateTruncating(hostLogits[(s * length + i) * vocab + v]);
                            glitches.Add(Glitch.Of(first + s, i, dependency, rowLogits, data.States[k]));
                        }
                        if (any) sequences++;
                    }
                    progress?.Invoke(first + b, data.Count);
                }
            }
            finally { device.Free(tokens); device.Free(predictions); }
            return new SplitResult(name, data.Count, positions, errors, sequences, DependencyBucket.Of(byDependency), glitches)
            {
                AttentionEntropy = meter?.Means ?? [],
            };
        }
    }
}
