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
    readonly Buf<int> _tokens, _predictions;

    public Evaluator(IModel<T> model, int batch, int length)
    {
        _model = model;
        _batch = batch;
        _length = length;
        _tokens = model.Ops.Device.Allocate<int>((long)batch * length);
        _predictions = model.Ops.Device.Allocate<int>((long)batch * length);
    }

    /// <summary>Default evaluation batch: the LSTM's recurrence gains from wide batches; attention probabilities grow as B*H*T^2.</summary>
    public static int DefaultBatch(ModelConfig config) => config.IsLstm ? 64 : 16;

    public ReadErrorCounter Evaluate(string split, FlipFlopDataset data, long step = -1, Action<int, int>? progress = null)
    {
        if (data.Length != _length) throw new ArgumentException($"{split}: sequences of length {data.Length}, the evaluator was made for {_length}");
        var counter = new ReadErrorCounter(split);
        var ints = new int[(long)_batch * _length];
        var predictions = new int[(long)_batch * _length];
        var device = _model.Ops.Device;
        for (int first = 0; first < data.Count; first += _batch)
        {
            int b = Math.Min(_batch, data.Count - first);
            int n = b * _length;
            var tokens = data.Tokens.AsSpan(first * _length, n);
            for (int i = 0; i < n; i++) ints[i] = tokens[i];
            device.Upload<int>(ints.AsSpan(0, n), _tokens.Slice(0, n));
            var logits = _model.Forward(_tokens.Slice(0, n), b, _length, PassOptions.Evaluation);
            _model.Ops.ArgmaxForward(_predictions, logits, n, _model.Config.VocabSize);
            device.Download(_predictions.Slice(0, n), predictions.AsSpan(0, n));
            counter.Add(tokens, predictions.AsSpan(0, n), _length, first);
            progress?.Invoke(first + b, data.Count);
        }
        return counter;
    }

    public void Dispose()
    {
        _model.Ops.Device.Free(_tokens);
        _model.Ops.Device.Free(_predictions);
    }
}
