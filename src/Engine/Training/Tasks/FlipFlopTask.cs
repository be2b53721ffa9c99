using System.Numerics;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Engine.Training.Tasks;

/// <summary>
/// Flip-flop language modelling. Batch k is sequences (k-1)*B .. k*B-1 of the data seed's stream of the training
/// distribution, or of the data seed's order of a training data file; the loss mode picks the scored positions (reads only, or every next token). Online: the fixed
/// `online` set; offline: the named evaluation sets of the options. The metric is read errors.
/// </summary>
public sealed class FlipFlopTask : ITrainingTask
{
    readonly TrainOptions _options;
    readonly FlipFlopSampler _sampler;
    readonly FlipFlopDataset? _file;     // the training data file's sequences, when training walks one
    readonly DataFileOrder? _order;

    public FlipFlopTask(TrainOptions options)
    {
        _options = options;
        _sampler = new FlipFlopSampler(options.Data);
        if (options.DataFile is { } file)
        {
            // the files must still be the ones the run was started on: their bytes define the run
            try { _file = file.Load(); }
            catch (InvalidDataException e) { throw new InvalidOptionException("data_file", e.Message); }
            _order = new DataFileOrder(_file.Count, options.DataSeed);
        }
        int batch = options.EvalBatch ?? Evaluator<float>.DefaultBatch(options.Model);
        if (options.EvalEvery > 0 && options.EvalCount > 0)
            Online = new ReadErrorSplit(EvaluationSets.Online, options.EvalCount, options.Length, batch);
        Offline = options.Offline.Select(o => (ITaskSplit)new ReadErrorSplit(EvaluationSets.ByName(o.Split), o.Count, options.Length, batch)).ToList();
    }

    public static void Validate(TrainOptions options)
    {
        InvalidOptionException.Require(options.Length >= 4 && options.Length % 2 == 0, "length", $"must be even and at least 4, got {options.Length}");
        InvalidOptionException.Require(options.Model.VocabSize == Tokens.VocabularySize, "model",
            $"flip-flop language modelling needs vocab_size {Tokens.VocabularySize}, got {options.Model.VocabSize}");
        foreach (var split in options.Offline)
            InvalidOptionException.Require(EvaluationSets.TryByName(split.Split, out _), "offline",
                $"unknown split \"{split.Split}\" (known: {string.Join(", ", EvaluationSets.All.Select(s => s.Name))})");
    }

    public ITaskSplit? Online { get; }
    public IReadOnlyList<ITaskSplit> Offline { get; }

    public int SampleBatch(int step, byte[] tokens, int[] targets)
    {
        int b = _options.Batch, t = _options.Length;
        if (_file != null)
            for (int j = 0; j < b; j++)
                _file.Tokens.AsSpan(_order!.IndexOf((long)(step - 1) * b + j) * t, t).CopyTo(tokens.AsSpan(j * t, t));
        else
            _sampler.SampleInto(_options.DataSeed, RandomDomain.Training, (long)(step - 1) * b, tokens, t);
        return LossTargets.Build(tokens, b, t, _options.Mode, targets);
    }

    public IReadOnlyList<TaskArtifact> Artifacts(IModel<float> model) => [];

    /// <summary>A named evaluation set scored by read errors, generated once on first use.</summary>
    sealed class ReadErrorSplit(EvaluationSet set, int count, int length, int batch) : ITaskSplit
    {
        FlipFlopDataset? _data;

        public string Name => set.Name;
        public int Count => count;

        public SplitResult Evaluate<T>(IModel<T> model, Action<int, int>? progress = null, bool attentionEntropy = false)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            _data ??= set.Generate(count, length);
            using var evaluator = new Evaluator<T>(model, batch, length);
            var meter = attentionEntropy ? new AttentionEntropyMeter() : null;
            var counter = evaluator.Evaluate(set.Name, _data, progress: progress, afterForward: meter == null ? null : () => meter.Add(model));
            return new SplitResult(set.Name, counter.Sequences, counter.Reads, counter.Errors, counter.SequencesWithErrors, counter.Buckets, counter.Glitches)
            {
                AttentionEntropy = meter?.Means ?? [],
            };
        }
    }
}
