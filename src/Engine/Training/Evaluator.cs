using System.Numerics;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training;

/// <summary>Read errors of a model on a dataset: forward in batches, argmax at every position, count at the reads.</summary>
public sealed class Evaluator<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly IModel<T> _model;
    readonly int _batch;
    readonly int _length;
    readonly Buf<int> _tokens, _errors, _perSequence;
    readonly PassOptions _pass;

    /// <param name="pass">the forward's options (default: <see cref="PassOptions.Evaluation"/>; a temperature probe passes its own)</param>
    public Evaluator(IModel<T> model, int batch, int length, PassOptions? pass = null)
    {
        _model = model;
        _pass = pass ?? PassOptions.Evaluation;
        _batch = batch;
        _length = length;
        _tokens = model.Ops.Device.Allocate<int>((long)batch * length);
        _errors = model.Ops.Device.Allocate<int>((long)batch * length);
        _perSequence = model.Ops.Device.Allocate<int>(2L * batch);
    }

    /// <summary>Default evaluation batch: the LSTM's recurrence gains from wide batches; attention probabilities grow as B*H*T^2.</summary>
    public static int DefaultBatch(ModelConfig config) => config.IsLstm ? 64 : 16;

    /// <summary>Read errors on <paramref name="data"/>; <paramref name="afterForward"/> runs after each batch's forward (diagnostics).</summary>
    public ReadErrorCounter Evaluate(string split, FlipFlopDataset data, long step = -1, Action<int, int>? progress = null, Action? afterForward = null)
    {
        if (data.Length != _length) throw new ArgumentException($"{split}: sequences of length {data.Length}, the evaluator was made for {_length}");
        var counter = new ReadErrorCounter(split);
        var ints = new int[(long)_batch * _length];
        var errors = new int[(long)_batch * _length];
        var perSequence = new int[2 * _batch];
        int vocab = _model.Config.VocabSize;
        var hostLogits = new T[(long)_batch * _length * vocab];
        var floatLogits = new float[hostLogits.Length];
        var device = _model.Ops.Device;
        for (int first = 0; first < data.Count; first += _batch)
        {
            int b = Math.Min(_batch, data.Count - first);
            int n = b * _length;
            var tokens = data.Tokens.AsSpan(first * _length, n);
            for (int i = 0; i < n; i++) ints[i] = tokens[i];
            device.Upload<int>(ints.AsSpan(0, n), _tokens.Slice(0, n));
            var logits = _model.Forward(_tokens.Slice(0, n), b, _length, _pass);
            afterForward?.Invoke();
            // the device counts reads and errors; the error flags come back only when there is an error
            _model.Ops.ReadErrorsForward(_errors, _perSequence, _tokens, logits, b, _length, _model.Config.VocabSize);
            device.Download(_perSequence.Slice(0, 2 * b), perSequence.AsSpan(0, 2 * b));
            long reads = 0, wrong = 0;
            for (int s = 0; s < b; s++) { reads += perSequence[2 * s]; wrong += perSequence[2 * s + 1]; }
            long readsBefore = counter.Reads, errorsBefore = counter.Errors;
            // errors are rare: their flags come back only then, and the batch's logits while glitch records are wanted
            bool recordGlitches = wrong > 0 && counter.Glitches.Count < Glitch.MaxRecords;
            if (wrong > 0) device.Download(_errors.Slice(0, n), errors.AsSpan(0, n));
            if (recordGlitches)
            {
                device.Download(logits.Slice(0, (long)n * vocab), hostLogits.AsSpan(0, n * vocab));
                for (int i = 0; i < n * vocab; i++) floatLogits[i] = float.CreateTruncating(hostLogits[i]);
            }
            counter.AddErrorFlags(tokens, wrong > 0 ? errors.AsSpan(0, n) : [], _length, first,
                recordGlitches ? floatLogits.AsSpan(0, n * vocab) : default, vocab);
            if (counter.Reads - readsBefore != reads || counter.Errors - errorsBefore != wrong)
                throw new InvalidOperationException($"{split}: the device counted {reads} reads and {wrong} errors in sequences {first}.., " +
                                                    $"the host {counter.Reads - readsBefore} and {counter.Errors - errorsBefore}");
            progress?.Invoke(first + b, data.Count);
        }
        return counter;
    }

    public void Dispose()
    {
        _model.Ops.Device.Free(_tokens);
        _model.Ops.Device.Free(_errors);
        _model.Ops.Device.Free(_perSequence);
    }
}
