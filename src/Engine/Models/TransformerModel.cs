using System.Numerics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Models;

/// <summary>
/// The paper's Transformer (x-transformers Decoder defaults): pre-norm blocks
/// x += Attn(LN(x)); x += FF(LN(x)); final LN; linear head. Forward and backward are written out layer by layer.
/// </summary>
public sealed class TransformerModel<T> : ModelBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly int _c, _layers, _heads, _v;
    readonly TransformerParameters<Buf<T>> _p, _g;   // views of Parameters and of Gradients
    readonly ActivationBlock<T, TransformerActivations<Buf<T>>> _acts;

    public TransformerModel(ModelConfig config, IOps<T> ops, MatmulPrecision precision = MatmulPrecision.Fp32)
        : this(config, ops, precision, TransformerParameters.Declare(config)) { }

    TransformerModel(ModelConfig config, IOps<T> ops, MatmulPrecision precision,
        (ParameterLayout Layout, TransformerParameters<LayoutEntry> Entries) parameters)
        : base(config, ops, parameters.Layout, precision)
    {
        _c = config.Dim; _layers = config.Layers; _heads = config.Heads; _v = config.VocabSize;
        (_p, _g) = (parameters.Entries.Map(ParameterView), parameters.Entries.Map(GradientView));
        _acts = new(Device);
    }

    Buf<T> _analysis;                    // (2,B,H,T,T) probabilities and scores for inspection, allocated on first use
    PassOptions _lastPass = PassOptions.Evaluation; // the options of the last forward: the analysis repeats its attention

    /// <summary>
    /// The attention probabilities (B,H,T,T) (before dropout; 0 above the diagonal) of layer l for the last
    /// forward, recomputed from its q and k by the analysis op; valid until the next call.
    /// </summary>
    public Buf<T> AttentionProbabilities(int layer) => Analyze(layer).Probs;

    /// <summary>The pre-softmax scores (B,H,T,T) (scaled q.k plus ALiBi bias; 0 above the diagonal) of layer l.</summary>
    public Buf<T> AttentionScores(int layer) => Analyze(layer).Scores;

    (Buf<T> Probs, Buf<T> Scores) Analyze(int layer)
    {
        var a = _acts.Views ?? throw new InvalidOperationException("no forward pass yet");
        int b = _acts.B, t = _acts.T;
        if (layer < 0 || layer >= _layers) throw new ArgumentOutOfRangeException(nameof(layer), $"layer {layer} outside 0..{_layers - 1}");
        long size = (long)b * _heads * t * t;
        if (_analysis.Length != 2 * size)
        {
            if (!_analysis.IsEmpty) Device.Free(_analysis);
            _analysis = Device.Allocate<T>(2 * size);
        }
        var probs = _analysis.Slice(0, size);
        var scores = _analysis.Slice(size, size);
        Ops.AttentionProbabilities(probs, scores, a.Layers[layer].Qkv, AttentionAt(_lastPass, layer) with { Dropout = DropoutSpec.None }, b, t, _c, _heads);
        return (probs, scores);
    }

    public (int B, int T) LastShape => (_acts.B, _acts.T);

    /// <summary>Layer <paramref name="layer"/>'s attention in a pass: ALiBi, its dropout mask, its temperature and the matmul precision.</summary>
    AttentionOptions AttentionAt(PassOptions options, int layer) =>
        new(Config.Position == PositionEncoding.Alibi, options.DropoutAt(options.DropoutAttention, DropoutSite.Attention(layer)), options.TemperatureAt(layer),
            Precision);

    /// <summary>
    /// The summed entropy of the attention rows of each layer (L) in the last forward, B*H*T rows a layer, computed by
    /// the attention entropy op from each layer's saved state (a diagnostic: any pass, sharpened or not).
    /// </summary>
    public double[] AttentionEntropySums()
    {
        var a = _acts.Views ?? throw new InvalidOperationException("no forward pass yet");
        for (int l = 0; l < _layers; l++) Ops.AttentionEntropyForward(a.Entropy.Slice(l, 1), a.Layers[l].Saved, _acts.B, _acts.T, _heads);
        return Device.ToArray(a.Entropy).Select(double.CreateTruncating).ToArray();
    }

    TransformerActivations<Buf<T>> Ensure(int b, int t) => _acts.Ensure(b, t, () =>
    {
        var (layout, entries) = TransformerActivations.Declare(Config, b, t, Ops.AttentionSavedLength(b, t, _heads));
        return (layout, block => entries.Map(entry => block.Slice(entry)));
    });

    Buf<T> _sinusoidTable;               // (T,C) fixed table of the sinusoidal encodings (the scale is applied when adding)

    protected override void ReleaseBuffers()
    {
        _acts.Dispose();
        if (!_sinusoidTable.IsEmpty) Device.Free(_sinusoidTable);
        if (!_analysis.IsEmpty) Device.Free(_analysis);
        _analysis = default;
        _sinusoidTable = default;
    }

    Buf<T> SinusoidTable(int t)
    {
        if (_sinusoidTable.Length >= (long)t * _c) return _sinusoidTable;
        if (!_sinusoidTable.IsEmpty) Device.Free(_sinusoidTable);
        _sinusoidTable = Device.Allocate<T>((long)t * _c);
        Ops.SinusoidalTable(_sinusoidTable, t, _c);
        return _sinusoidTable;
    }

    /// <summary>rope rotates part of each head of q, k and v; rope-full all of q and k.</summary>
    bool Rotary => Config.Position is PositionEncoding.Rope or PositionEncoding.RopeFull;
    bool RotatesValues => Config.Position == PositionEncoding.Rope;

    T LinearDivisor => T.CreateTruncating(Config.LinearPosDivisor!.Value);

    bool SharpenLayer(PassOptions options, int l) =>
        options.Sharpen != 0 && (options.SharpenLayers == null || options.SharpenLayers.Contains(l));

    int SharpenedLayerCount(PassOptions options) => Enumerable.Range(0, _layers).Count(l => SharpenLayer(options, l));

    PassOptions? _regularizerOptions;

    /// <summary>
    /// lambda * mean entropy of the attention rows of the sharpened layers in the last forward, from the per-layer
    /// entropy sums (L) on the device. Read lazily: the forward itself never waits for the device.
    /// </summary>
    public override RegularizerReading<T> RegularizerReading
    {
        get
        {
            var options = _regularizerOptions;
            if (options == null || _acts.Views == null) return RegularizerReading<T>.None;
            int sharpened = SharpenedLayerCount(options);
            if (sharpened == 0) return RegularizerReading<T>.None;
            double rows = (double)sharpened * _acts.B * _heads * _acts.T;
            return new RegularizerReading<T>(_acts.Views.Entropy, entropies =>
            {
                double sum = 0;
                for (int l = 0; l < _layers; l++) if (SharpenLayer(options, l)) sum += double.CreateTruncating(entropies[l]);
                return options.Sharpen * sum / rows;
            });
        }
    }

    public override Buf<T> Forward(Buf<int> tokens, int b, int t, PassOptions options)
    {
        if (t > Config.MaxSequenceLength)
            throw new ArgumentException($"sequence length {t} exceeds the learned position table ({Config.MaxLength})");
        var a = Ensure(b, t);
        LastTokens = tokens;
        _lastPass = options;
        int n = b * t, c = _c;
        var pos = Config.Position;
        T posScale = T.One / T.Sqrt(T.CreateTruncating(c));

        // embeddings (N,C): the token embedding (with the linear coordinate, [e_t, t/C]), then what is added to it
        if (pos == PositionEncoding.Linear) Ops.LinearPositionEmbeddingForward(a.Encoded, tokens, _p.TokenEmbedding, LinearDivisor, b, t, c);
        else Ops.EmbeddingForward(a.Encoded, tokens, _p.TokenEmbedding, n, c);
        if (Config.HasLearnedPositions) Ops.PositionAddForward(a.Encoded, _p.PositionEmbedding, posScale, b, t, c);
        else if (pos == PositionEncoding.Sinusoidal) Ops.PositionScaleForward(a.Encoded, SinusoidTable(t), _p.PositionScale, b, t, c);
        else if (pos == PositionEncoding.SinusoidalFixed) Ops.PositionAddForward(a.Encoded, SinusoidTable(t), posScale, b, t, c);
        else if (pos == PositionEncoding.LinearAdd) Ops.LinearPositionForward(a.Encoded, LinearDivisor, b, t, c);
        Ops.DropoutForward(a.Encoded, a.Encoded, options.DropoutAt(options.DropoutEmbedding, DropoutSite.Embedding), (long)n * c);

        for (int l = 0; l < _layers; l++)
        {
            var p = _p.Layers[l];
            var act = a.Layers[l];
            var input = l == 0 ? a.Encoded : a.Layers[l - 1].Output;
            Ops.LayerNormForward(act.Ln1, act.Ln1Mean, act.Ln1Rstd, input, p.AttnNormWeight, p.AttnNormBias, n, c);
            Ops.MatmulForward(act.Qkv, act.Ln1, p.Wqkv, Buf<T>.Empty, n, c, 3 * c, Precision);
            if (Rotary) Ops.RopeForward(act.Qkv, b, t, c, _heads, Config.RotaryDim, RotatesValues);
            var attn = AttentionAt(options, l);
            Ops.AttentionForward(act.Atty, act.Saved, act.Qkv, attn, b, t, c, _heads);
            if (SharpenLayer(options, l)) Ops.AttentionEntropyForward(a.Entropy.Slice(l, 1), act.Saved, b, t, _heads);
            Ops.MatmulForward(a.Scratch, act.Atty, p.Wo, Buf<T>.Empty, n, c, c, Precision);
            Ops.ResidualForward(act.Mid, input, a.Scratch, (long)n * c);
            Ops.LayerNormForward(act.Ln2, act.Ln2Mean, act.Ln2Rstd, act.Mid, p.FfNormWeight, p.FfNormBias, n, c);
            Ops.MatmulForward(act.Fch, act.Ln2, p.W1, p.B1, n, c, 4 * c, Precision);
            Ops.GeluForward(act.FchGelu, act.Fch, 4L * n * c);
            Ops.DropoutForward(act.FchGelu, act.FchGelu, options.DropoutAt(options.DropoutFeedForward, DropoutSite.FeedForward(l)), 4L * n * c);
            Ops.MatmulForward(a.Scratch, act.FchGelu, p.W2, p.B2, n, 4 * c, c, Precision);
            Ops.ResidualForward(act.Output, act.Mid, a.Scratch, (long)n * c);
        }
        _regularizerOptions = options;
        Ops.LayerNormForward(a.LnF, a.LnFMean, a.LnFRstd, a.Layers[_layers - 1].Output, _p.FinalNormWeight, _p.FinalNormBias, n, c);
        Ops.MatmulForward(a.Logits, a.LnF, _p.HeadWeight, _p.HeadBias, n, c, _v, Precision);
        return a.Logits;
    }

    public override void Backward(Buf<T> dlogits, PassOptions options)
    {
        var a = _acts.Views ?? throw new InvalidOperationException("backward before forward");
        int b = _acts.B, t = _acts.T, n = b * t, c = _c;
        long nc = (long)n * c;
        var pos = Config.Position;
        int sharpened = SharpenedLayerCount(options);
        T entropyScale = sharpened == 0 ? T.Zero : T.CreateTruncating(options.Sharpen / ((double)sharpened * b * _heads * t));

        Ops.Fill(a.DNorm, T.Zero);
        Ops.MatmulBackward(a.DNorm, _g.HeadWeight, _g.HeadBias, dlogits, a.LnF, _p.HeadWeight, n, c, _v, Precision);
        Ops.Fill(a.DResidual, T.Zero);
        Ops.LayerNormBackward(a.DResidual, _g.FinalNormWeight, _g.FinalNormBias, a.DNorm,
            a.Layers[_layers - 1].Output, _p.FinalNormWeight, a.LnFMean, a.LnFRstd, n, c);

        for (int l = _layers - 1; l >= 0; l--)
        {
            var p = _p.Layers[l];
            var g = _g.Layers[l];
            var act = a.Layers[l];
            var input = l == 0 ? a.Encoded : a.Layers[l - 1].Output;
            // feed-forward: stream = mid + w2(drop(gelu(w1 ln2(mid))))
            Ops.Fill(a.DHidden, T.Zero);
            Ops.MatmulBackward(a.DHidden, g.W2, g.B2, a.DResidual, act.FchGelu, p.W2, n, 4 * c, c, Precision);
            Ops.DropoutBackward(a.DHidden, a.DHidden, options.DropoutAt(options.DropoutFeedForward, DropoutSite.FeedForward(l)), 4L * nc);
            Ops.GeluBackward(a.DHidden, act.Fch, a.DHidden, 4L * nc);
            Ops.Fill(a.DNorm, T.Zero);
            Ops.MatmulBackward(a.DNorm, g.W1, g.B1, a.DHidden, act.Ln2, p.W1, n, c, 4 * c, Precision);
            Ops.LayerNormBackward(a.DResidual, g.FfNormWeight, g.FfNormBias, a.DNorm, act.Mid, p.FfNormWeight, act.Ln2Mean, act.Ln2Rstd, n, c);
            // attention: mid = input + wo(attn(qkv(ln1(input))))
            Ops.Fill(a.DAtty, T.Zero);
            Ops.MatmulBackward(a.DAtty, g.Wo, Buf<T>.Empty, a.DResidual, act.Atty, p.Wo, n, c, c, Precision);
            var attn = AttentionAt(options, l);
            Ops.AttentionBackward(a.DQkv, a.DAtty, act.Qkv, act.Atty, act.Saved, SharpenLayer(options, l) ? entropyScale : T.Zero, attn, b, t, c, _heads);
            if (Rotary) Ops.RopeBackward(a.DQkv, b, t, c, _heads, Config.RotaryDim, RotatesValues);
            Ops.Fill(a.DNorm, T.Zero);
            Ops.MatmulBackward(a.DNorm, g.Wqkv, Buf<T>.Empty, a.DQkv, act.Ln1, p.Wqkv, n, c, 3 * c, Precision);
            Ops.LayerNormBackward(a.DResidual, g.AttnNormWeight, g.AttnNormBias, a.DNorm, input, p.AttnNormWeight, act.Ln1Mean, act.Ln1Rstd, n, c);
        }

        Ops.DropoutBackward(a.DResidual, a.DResidual, options.DropoutAt(options.DropoutEmbedding, DropoutSite.Embedding), nc);
        if (Config.HasLearnedPositions)
            Ops.PositionAddBackward(_g.PositionEmbedding, a.DResidual, T.One / T.Sqrt(T.CreateTruncating(c)), b, t, c);
        else if (pos == PositionEncoding.Sinusoidal) Ops.PositionScaleBackward(_g.PositionScale, a.DResidual, SinusoidTable(t), b, t, c);
        if (pos == PositionEncoding.Linear) Ops.LinearPositionEmbeddingBackward(_g.TokenEmbedding, a.DResidual, LastTokens, n, _v, c);
        else Ops.EmbeddingBackward(_g.TokenEmbedding, a.DResidual, LastTokens, n, _v, c);
    }
}
