using System.Numerics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Models;

/// <summary>
/// The paper's Transformer (x-transformers Decoder defaults, brief section 4): pre-norm blocks
/// x += Attn(LN(x)); x += FF(LN(x)); final LN; linear head. Forward and backward are written out layer by layer.
/// </summary>
public sealed class TransformerModel<T> : ModelBase<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly int _c, _layers, _heads, _v;
    Activations? _acts;
    int _b, _t;
    Buf<int> _tokens;

    public TransformerModel(ModelConfig config, IOps<T> ops) : base(config, ops)
    {
        if (!config.IsTransformer) throw new ArgumentException($"not a transformer configuration: {config}");
        _c = config.Dim; _layers = config.Layers; _heads = config.Heads; _v = config.VocabSize;
    }

    /// <summary>Per-layer parameter views; wq, wk, wv together form the (3C, C) QKV weight.</summary>
    readonly record struct LayerParams(Buf<T> AttnNormW, Buf<T> AttnNormB, Buf<T> Wqkv, Buf<T> Wo, Buf<T> FfNormW, Buf<T> FfNormB,
        Buf<T> W1, Buf<T> B1, Buf<T> W2, Buf<T> B2);

    LayerParams LayerView(Buf<T> all, int l)
    {
        Buf<T> At(string name) { var s = Layout[$"layers.{l}.{name}"]; return all.Slice(s.Offset, s.Count); }
        var wq = Layout[$"layers.{l}.attn.wq.weight"];
        return new(At("attn_norm.weight"), At("attn_norm.bias"), all.Slice(wq.Offset, 3L * _c * _c), At("attn.wo.weight"),
            At("ff_norm.weight"), At("ff_norm.bias"), At("ff.w1.weight"), At("ff.w1.bias"), At("ff.w2.weight"), At("ff.w2.bias"));
    }

    Buf<T> View(Buf<T> all, string name) { var s = Layout[name]; return all.Slice(s.Offset, s.Count); }

    /// <summary>All activations of one (B,T) shape in one allocation.</summary>
    sealed class Activations
    {
        public required Buf<T> Block;
        public required Buf<T> Encoded;                 // (N,C) embedding output = residual stream entering layer 0
        public required Buf<T>[] Residual;              // L x (N,C): stream after layer l
        public required Buf<T>[] Ln1, Ln1Mean, Ln1Rstd; // (N,C), (N), (N)
        public required Buf<T>[] Qkv;                   // (N,3C) after RoPE
        public required Buf<T>[] Atty;                  // (N,C) attention output before wo
        public required Buf<T>[] Saved;                 // attention state for the backward (CPU: probabilities (B,H,T,T))
        public required Buf<T>[] Mid;                   // (N,C) stream after the attention residual
        public required Buf<T>[] Ln2, Ln2Mean, Ln2Rstd;
        public required Buf<T>[] Fch;                   // (N,4C) w1 output (GELU input)
        public required Buf<T>[] FchGelu;               // (N,4C) GELU output after ff dropout (w2 input)
        public required Buf<T> Scratch;                 // (N,C) matmul output before the residual add
        public required Buf<T> LnF, LnFMean, LnFRstd;   // (N,C), (N), (N)
        public required Buf<T> Logits;                  // (N,V)
        // gradients
        public required Buf<T> DResidual;               // (N,C) gradient of the residual stream
        public required Buf<T> DNorm;                   // (N,C) gradient of an LN output
        public required Buf<T> DAtty;                   // (N,C)
        public required Buf<T> DQkv;                    // (N,3C)
        public required Buf<T> DHidden;                 // (N,4C)
        public required Buf<T> Entropy;                 // (L) summed row entropies per layer (sharpened layers only)
    }

    Buf<T> _analysis;                    // (2,B,H,T,T) probabilities and scores for inspection, allocated on first use

    /// <summary>
    /// The attention probabilities (B,H,T,T) (before dropout; 0 above the diagonal) of layer l for the last
    /// forward, recomputed from its q and k by the analysis op; valid until the next call.
    /// </summary>
    public Buf<T> AttentionProbabilities(int layer) => Analyze(layer).Probs;

    /// <summary>The pre-softmax scores (B,H,T,T) (scaled q.k plus ALiBi bias; 0 above the diagonal) of layer l.</summary>
    public Buf<T> AttentionScores(int layer) => Analyze(layer).Scores;

    (Buf<T> Probs, Buf<T> Scores) Analyze(int layer)
    {
        var a = _acts ?? throw new InvalidOperationException("no forward pass yet");
        if (layer < 0 || layer >= _layers) throw new ArgumentOutOfRangeException(nameof(layer), $"layer {layer} outside 0..{_layers - 1}");
        long size = (long)_b * _heads * _t * _t;
        if (_analysis.Length != 2 * size)
        {
            if (!_analysis.IsEmpty) Device.Free(_analysis);
            _analysis = Device.Allocate<T>(2 * size);
        }
        var probs = _analysis.Slice(0, size);
        var scores = _analysis.Slice(size, size);
        Ops.AttentionProbabilities(probs, scores, a.Qkv[layer], new AttentionOptions(Config.Position == PositionEncoding.Alibi, DropoutSpec.None),
            _b, _t, _c, _heads);
        return (probs, scores);
    }

    public (int B, int T) LastShape => (_b, _t);

    Activations Ensure(int b, int t)
    {
        if (_acts != null && _b == b && _t == t) return _acts;
        if (_acts != null) Device.Free(_acts.Block);
        long n = (long)b * t, c = _c, l = _layers;
        long probs = Ops.AttentionSavedLength(b, t, _heads);
        long perLayer = n * c /*resid*/ + n * c + 2 * n /*ln1*/ + 3 * n * c + n * c + probs + n * c + n * c + 2 * n + 4 * n * c * 2;
        long total = n * c + l * perLayer + n * c + n * c + 2 * n + n * _v + n * c * 3 + 3 * n * c + 4 * n * c + l;
        var block = Device.Allocate<T>(total);
        long offset = 0;
        Buf<T> Take(long count) { var s = block.Slice(offset, count); offset += count; return s; }
        Buf<T>[] Layers(long count) { var a = new Buf<T>[_layers]; for (int i = 0; i < _layers; i++) a[i] = Take(count); return a; }
        _acts = new Activations
        {
            Block = block,
            Encoded = Take(n * c),
            Residual = Layers(n * c),
            Ln1 = Layers(n * c), Ln1Mean = Layers(n), Ln1Rstd = Layers(n),
            Qkv = Layers(3 * n * c), Atty = Layers(n * c), Saved = Layers(probs), Mid = Layers(n * c),
            Ln2 = Layers(n * c), Ln2Mean = Layers(n), Ln2Rstd = Layers(n),
            Fch = Layers(4 * n * c), FchGelu = Layers(4 * n * c),
            Scratch = Take(n * c),
            LnF = Take(n * c), LnFMean = Take(n), LnFRstd = Take(n),
            Logits = Take(n * _v),
            DResidual = Take(n * c), DNorm = Take(n * c), DAtty = Take(n * c),
            DQkv = Take(3 * n * c), DHidden = Take(4 * n * c), Entropy = Take(_layers),
        };
        if (offset != total) throw new InvalidOperationException($"activation layout mismatch: {offset} != {total}");
        _b = b; _t = t;
        return _acts;
    }

    Buf<T> _sinusoidTable;               // (T,C) fixed table for sinusoidal positions

    protected override void ReleaseBuffers()
    {
        if (_acts != null) Device.Free(_acts.Block);
        if (!_sinusoidTable.IsEmpty) Device.Free(_sinusoidTable);
        if (!_analysis.IsEmpty) Device.Free(_analysis);
        _analysis = default;
        _acts = null;
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

    bool SharpenLayer(PassOptions options, int l) =>
        options.Sharpen != 0 && (options.SharpenLayers == null || options.SharpenLayers.Contains(l));

    int SharpenedLayerCount(PassOptions options) => Enumerable.Range(0, _layers).Count(l => SharpenLayer(options, l));

    PassOptions? _regularizerOptions;

    /// <summary>
    /// lambda * mean entropy of the attention rows of the sharpened layers in the last forward. Read lazily: the
    /// entropies stay on the device until asked for, so the forward itself never waits for the device.
    /// </summary>
    public override double RegularizerLoss
    {
        get
        {
            var options = _regularizerOptions;
            if (options == null || _acts == null) return 0;
            int sharpened = SharpenedLayerCount(options);
            if (sharpened == 0) return 0;
            var entropies = Device.ToArray(_acts.Entropy);
            double sum = 0;
            for (int l = 0; l < _layers; l++) if (SharpenLayer(options, l)) sum += double.CreateTruncating(entropies[l]);
            return options.Sharpen * sum / ((double)sharpened * _b * _heads * _t);
        }
    }

    public override Buf<T> Forward(Buf<int> tokens, int b, int t, PassOptions options)
    {
        if (t > Config.MaxSequenceLength)
            throw new ArgumentException($"sequence length {t} exceeds the learned position table ({Config.MaxLength})");
        var a = Ensure(b, t);
        _tokens = tokens;
        int n = b * t, c = _c;
        var pos = Config.Position;
        T posScale = T.One / T.Sqrt(T.CreateTruncating(c));

        // embeddings (N,C)
        Ops.EmbeddingForward(a.Encoded, tokens, View(Parameters, "tok_emb.weight"), n, c);
        if (pos == PositionEncoding.Learned) Ops.PositionAddForward(a.Encoded, View(Parameters, "pos_emb.weight"), posScale, b, t, c);
        else if (pos == PositionEncoding.Sinusoidal) Ops.PositionAddForward(a.Encoded, SinusoidTable(t), posScale, b, t, c);
        else if (pos == PositionEncoding.Linear) Ops.LinearPositionForward(a.Encoded, T.CreateTruncating(Config.LinearPosDivisor!.Value), b, t, c);
        Ops.DropoutForward(a.Encoded, a.Encoded, options.DropoutAt(options.DropoutEmbedding, DropoutSite.Embedding), (long)n * c);

        for (int l = 0; l < _layers; l++)
        {
            var p = LayerView(Parameters, l);
            var input = l == 0 ? a.Encoded : a.Residual[l - 1];
            Ops.LayerNormForward(a.Ln1[l], a.Ln1Mean[l], a.Ln1Rstd[l], input, p.AttnNormW, p.AttnNormB, n, c);
            Ops.MatmulForward(a.Qkv[l], a.Ln1[l], p.Wqkv, Buf<T>.Empty, n, c, 3 * c);
            if (pos == PositionEncoding.Rope) Ops.RopeForward(a.Qkv[l], b, t, c, _heads);
            var attn = new AttentionOptions(pos == PositionEncoding.Alibi, options.DropoutAt(options.DropoutAttention, DropoutSite.Attention(l)));
            Ops.AttentionForward(a.Atty[l], a.Saved[l], a.Qkv[l], attn, b, t, c, _heads);
            if (SharpenLayer(options, l)) Ops.AttentionEntropyForward(a.Entropy.Slice(l, 1), a.Saved[l], b, t, _heads);
            Ops.MatmulForward(a.Scratch, a.Atty[l], p.Wo, Buf<T>.Empty, n, c, c);
            Ops.ResidualForward(a.Mid[l], input, a.Scratch, (long)n * c);
            Ops.LayerNormForward(a.Ln2[l], a.Ln2Mean[l], a.Ln2Rstd[l], a.Mid[l], p.FfNormW, p.FfNormB, n, c);
            Ops.MatmulForward(a.Fch[l], a.Ln2[l], p.W1, p.B1, n, c, 4 * c);
            Ops.GeluForward(a.FchGelu[l], a.Fch[l], 4L * n * c);
            Ops.DropoutForward(a.FchGelu[l], a.FchGelu[l], options.DropoutAt(options.DropoutFeedForward, DropoutSite.FeedForward(l)), 4L * n * c);
            Ops.MatmulForward(a.Scratch, a.FchGelu[l], p.W2, p.B2, n, 4 * c, c);
            Ops.ResidualForward(a.Residual[l], a.Mid[l], a.Scratch, (long)n * c);
        }
        _regularizerOptions = options;
        Ops.LayerNormForward(a.LnF, a.LnFMean, a.LnFRstd, a.Residual[_layers - 1], View(Parameters, "final_norm.weight"),
            View(Parameters, "final_norm.bias"), n, c);
        Ops.MatmulForward(a.Logits, a.LnF, View(Parameters, "head.weight"), View(Parameters, "head.bias"), n, c, _v);
        return a.Logits;
    }

    public override void Backward(Buf<T> dlogits, PassOptions options)
    {
        var a = _acts ?? throw new InvalidOperationException("backward before forward");
        int b = _b, t = _t, n = b * t, c = _c;
        long nc = (long)n * c;
        var pos = Config.Position;
        int sharpened = SharpenedLayerCount(options);
        T entropyScale = sharpened == 0 ? T.Zero : T.CreateTruncating(options.Sharpen / ((double)sharpened * b * _heads * t));

        Ops.Fill(a.DNorm, T.Zero);
        Ops.MatmulBackward(a.DNorm, View(Gradients, "head.weight"), View(Gradients, "head.bias"), dlogits, a.LnF,
            View(Parameters, "head.weight"), n, c, _v);
        Ops.Fill(a.DResidual, T.Zero);
        Ops.LayerNormBackward(a.DResidual, View(Gradients, "final_norm.weight"), View(Gradients, "final_norm.bias"), a.DNorm,
            a.Residual[_layers - 1], View(Parameters, "final_norm.weight"), a.LnFMean, a.LnFRstd, n, c);

        for (int l = _layers - 1; l >= 0; l--)
        {
            var p = LayerView(Parameters, l);
            var g = LayerView(Gradients, l);
            var input = l == 0 ? a.Encoded : a.Residual[l - 1];
            // feed-forward: stream = mid + w2(drop(gelu(w1 ln2(mid))))
            Ops.Fill(a.DHidden, T.Zero);
            Ops.MatmulBackward(a.DHidden, g.W2, g.B2, a.DResidual, a.FchGelu[l], p.W2, n, 4 * c, c);
            Ops.DropoutBackward(a.DHidden, a.DHidden, options.DropoutAt(options.DropoutFeedForward, DropoutSite.FeedForward(l)), 4L * nc);
            Ops.GeluBackward(a.DHidden, a.Fch[l], a.DHidden, 4L * nc);
            Ops.Fill(a.DNorm, T.Zero);
            Ops.MatmulBackward(a.DNorm, g.W1, g.B1, a.DHidden, a.Ln2[l], p.W1, n, c, 4 * c);
            Ops.LayerNormBackward(a.DResidual, g.FfNormW, g.FfNormB, a.DNorm, a.Mid[l], p.FfNormW, a.Ln2Mean[l], a.Ln2Rstd[l], n, c);
            // attention: mid = input + wo(attn(qkv(ln1(input))))
            Ops.Fill(a.DAtty, T.Zero);
            Ops.MatmulBackward(a.DAtty, g.Wo, Buf<T>.Empty, a.DResidual, a.Atty[l], p.Wo, n, c, c);
            var attn = new AttentionOptions(pos == PositionEncoding.Alibi, options.DropoutAt(options.DropoutAttention, DropoutSite.Attention(l)));
            Ops.AttentionBackward(a.DQkv, a.DAtty, a.Qkv[l], a.Atty[l], a.Saved[l], SharpenLayer(options, l) ? entropyScale : T.Zero, attn, b, t, c, _heads);
            if (pos == PositionEncoding.Rope) Ops.RopeBackward(a.DQkv, b, t, c, _heads);
            Ops.Fill(a.DNorm, T.Zero);
            Ops.MatmulBackward(a.DNorm, g.Wqkv, Buf<T>.Empty, a.DQkv, a.Ln1[l], p.Wqkv, n, c, 3 * c);
            Ops.LayerNormBackward(a.DResidual, g.AttnNormW, g.AttnNormB, a.DNorm, input, p.AttnNormW, a.Ln1Mean[l], a.Ln1Rstd[l], n, c);
        }

        Ops.DropoutBackward(a.DResidual, a.DResidual, options.DropoutAt(options.DropoutEmbedding, DropoutSite.Embedding), nc);
        if (pos == PositionEncoding.Learned)
            Ops.PositionAddBackward(View(Gradients, "pos_emb.weight"), a.DResidual, T.One / T.Sqrt(T.CreateTruncating(c)), b, t, c);
        Ops.EmbeddingBackward(View(Gradients, "tok_emb.weight"), a.DResidual, _tokens, n, _v, c);
    }
}
