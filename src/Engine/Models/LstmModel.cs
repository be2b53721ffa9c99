using System.Numerics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Models;

/// <summary>The paper's LSTM: Embedding(V, E), one-layer LSTM(E, H) (PyTorch gates i, f, g, o; two biases), Linear(H, V).</summary>
public sealed class LstmModel<T> : ModelBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly int _e, _h, _v;
    readonly LstmParameters<Buf<T>> _p, _g;   // views of Parameters and of Gradients
    readonly ActivationBlock<T, LstmActivations<Buf<T>>> _acts;

    public LstmModel(ModelConfig config, IOps<T> ops, MatmulPrecision precision = MatmulPrecision.Fp32)
        : this(config, ops, precision, LstmParameters.Declare(config)) { }

    LstmModel(ModelConfig config, IOps<T> ops, MatmulPrecision precision, (ParameterLayout Layout, LstmParameters<LayoutEntry> Entries) parameters)
        : base(config, ops, parameters.Layout, precision)
    {
        _e = config.EmbedDim; _h = config.Hidden; _v = config.VocabSize;
        (_p, _g) = (parameters.Entries.Map(ParameterView), parameters.Entries.Map(GradientView));
        _acts = new(Device);
    }

    LstmActivations<Buf<T>> Ensure(int b, int t) => _acts.Ensure(b, t, () =>
    {
        var (layout, entries) = LstmActivations.Declare(Config, b, t);
        return (layout, block => entries.Map(entry => block.Slice(entry)));
    });

    protected override void ReleaseBuffers() => _acts.Dispose();

    public override Buf<T> Forward(Buf<int> tokens, int b, int t, PassOptions options)
    {
        var a = Ensure(b, t);
        LastTokens = tokens;
        int n = b * t;
        Ops.EmbeddingForward(a.Embedded, tokens, _p.Embedding, n, _e);
        Ops.MatmulForward(a.InputProjection, a.Embedded, _p.WeightIh, _p.BiasIh, n, _e, 4 * _h, Precision);
        Ops.LstmForward(a.Hidden, a.Cells, a.Gates, a.InputProjection, _p.WeightHh, _p.BiasHh, b, t, _h);
        Ops.MatmulForward(a.Logits, a.Hidden, _p.HeadWeight, _p.HeadBias, n, _h, _v, Precision);
        return a.Logits;
    }

    public override void Backward(Buf<T> dlogits, PassOptions options)
    {
        var a = _acts.Views ?? throw new InvalidOperationException("backward before forward");
        int b = _acts.B, t = _acts.T, n = b * t;
        Ops.Fill(a.DHidden, T.Zero);
        Ops.MatmulBackward(a.DHidden, _g.HeadWeight, _g.HeadBias, dlogits, a.Hidden, _p.HeadWeight, n, _h, _v, Precision);
        Ops.LstmBackward(a.DInputProjection, _g.WeightHh, _g.BiasHh, a.DHidden, a.Hidden, a.Cells, a.Gates, _p.WeightHh, b, t, _h, Precision);
        Ops.Fill(a.DEmbedded, T.Zero);
        Ops.MatmulBackward(a.DEmbedded, _g.WeightIh, _g.BiasIh, a.DInputProjection, a.Embedded, _p.WeightIh, n, _e, 4 * _h, Precision);
        Ops.EmbeddingBackward(_g.Embedding, a.DEmbedded, LastTokens, n, _v, _e);
    }
}
