using System.Numerics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Models;

/// <summary>The paper's LSTM: Embedding(V, E), one-layer LSTM(E, H) (PyTorch gates i, f, g, o; two biases), Linear(H, V).</summary>
public sealed class LstmModel<T> : ModelBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly int _e, _h, _v;
    Buf<T> _block;
    int _b, _t;
    Buf<int> _tokens;
    Buf<T> _emb, _xproj, _hs, _cells, _gates, _logits, _dh, _dxproj, _demb;

    public LstmModel(ModelConfig config, IOps<T> ops) : base(config, ops)
    {
        if (!config.IsLstm) throw new ArgumentException($"not an LSTM configuration: {config}");
        _e = config.EmbedDim; _h = config.Hidden; _v = config.VocabSize;
    }

    Buf<T> View(Buf<T> all, string name) { var s = Layout[name]; return all.Slice(s.Offset, s.Count); }

    void Ensure(int b, int t)
    {
        if (!_block.IsEmpty && _b == b && _t == t) return;
        if (!_block.IsEmpty) Device.Free(_block);
        long n = (long)b * t;
        long total = n * _e + n * 4 * _h + n * _h + n * _h + n * 4 * _h + n * _v + n * _h + n * 4 * _h + n * _e;
        _block = Device.Allocate<T>(total);
        long offset = 0;
        Buf<T> Take(long count) { var s = _block.Slice(offset, count); offset += count; return s; }
        _emb = Take(n * _e);          // (N,E) embeddings
        _xproj = Take(n * 4 * _h);    // (N,4H) x W_ih^T + b_ih
        _hs = Take(n * _h);           // (N,H) hidden states
        _cells = Take(n * _h);        // (N,H) cell states
        _gates = Take(n * 4 * _h);    // (N,4H) gate activations
        _logits = Take(n * _v);       // (N,V)
        _dh = Take(n * _h);           // (N,H)
        _dxproj = Take(n * 4 * _h);   // (N,4H)
        _demb = Take(n * _e);         // (N,E)
        _b = b; _t = t;
    }

    protected override void ReleaseBuffers()
    {
        if (!_block.IsEmpty) Device.Free(_block);
        _block = default;
    }

    public override Buf<T> Forward(Buf<int> tokens, int b, int t, PassOptions options)
    {
        Ensure(b, t);
        _tokens = tokens;
        int n = b * t;
        Ops.EmbeddingForward(_emb, tokens, View(Parameters, "emb.weight"), n, _e);
        Ops.MatmulForward(_xproj, _emb, View(Parameters, "lstm.weight_ih_l0"), View(Parameters, "lstm.bias_ih_l0"), n, _e, 4 * _h);
        Ops.LstmForward(_hs, _cells, _gates, _xproj, View(Parameters, "lstm.weight_hh_l0"), View(Parameters, "lstm.bias_hh_l0"), b, t, _h);
        Ops.MatmulForward(_logits, _hs, View(Parameters, "head.weight"), View(Parameters, "head.bias"), n, _h, _v);
        RegularizerLoss = 0;
        return _logits;
    }

    public override void Backward(Buf<T> dlogits, PassOptions options)
    {
        if (_block.IsEmpty) throw new InvalidOperationException("backward before forward");
        int b = _b, t = _t, n = b * t;
        Ops.Fill(_dh, T.Zero);
        Ops.MatmulBackward(_dh, View(Gradients, "head.weight"), View(Gradients, "head.bias"), dlogits, _hs, View(Parameters, "head.weight"), n, _h, _v);
        Ops.LstmBackward(_dxproj, View(Gradients, "lstm.weight_hh_l0"), View(Gradients, "lstm.bias_hh_l0"), _dh, _hs, _cells, _gates,
            View(Parameters, "lstm.weight_hh_l0"), b, t, _h);
        Ops.Fill(_demb, T.Zero);
        Ops.MatmulBackward(_demb, View(Gradients, "lstm.weight_ih_l0"), View(Gradients, "lstm.bias_ih_l0"), _dxproj, _emb,
            View(Parameters, "lstm.weight_ih_l0"), n, _e, 4 * _h);
        Ops.EmbeddingBackward(View(Gradients, "emb.weight"), _demb, _tokens, n, _v, _e);
    }
}
