namespace RawFlipFlop.Engine.Models;

/// <summary>
/// The Transformer's parameters by role. A slot is a <see cref="LayoutEntry"/> (where the tensor lies in the flat
/// parameter buffer) or, through <see cref="Map{TView}"/>, its view in the parameters or in the gradients.
/// PositionEmbedding (the learned table) exists with learned positions and with ALiBi's absolute embedding;
/// PositionScale (the scaled sinusoidal embedding's scalar) with sinusoidal positions only.
/// </summary>
public sealed record TransformerParameters<TSlot>(TSlot TokenEmbedding, TSlot? PositionEmbedding,
    IReadOnlyList<TransformerLayerParameters<TSlot>> Layers, TSlot FinalNormWeight, TSlot FinalNormBias, TSlot HeadWeight, TSlot HeadBias,
    TSlot? PositionScale)
{
    public TransformerParameters<TView> Map<TView>(Func<TSlot, TView> view) => new(view(TokenEmbedding),
        PositionEmbedding is null ? default : view(PositionEmbedding), [.. Layers.Select(layer => layer.Map(view))],
        view(FinalNormWeight), view(FinalNormBias), view(HeadWeight), view(HeadBias),
        PositionScale is null ? default : view(PositionScale));
}

/// <summary>
/// The parameters of one pre-norm block, x += Attn(LN(x)); x += FF(LN(x)). Wqkv is wq, wk, wv stacked: the
/// (3C,C) weight of one QKV matmul.
/// </summary>
public sealed record TransformerLayerParameters<TSlot>(TSlot AttnNormWeight, TSlot AttnNormBias, TSlot Wqkv, TSlot Wo,
    TSlot FfNormWeight, TSlot FfNormBias, TSlot W1, TSlot B1, TSlot W2, TSlot B2)
{
    public TransformerLayerParameters<TView> Map<TView>(Func<TSlot, TView> view) => new(view(AttnNormWeight), view(AttnNormBias),
        view(Wqkv), view(Wo), view(FfNormWeight), view(FfNormBias), view(W1), view(B1), view(W2), view(B2));
}

public static class TransformerParameters
{
    /// <summary>
    /// The parameters of a configuration under their checkpoint names (x-transformers' module names, PyTorch
    /// shapes and default initialisations), in checkpoint order: arguments are evaluated in the order written.
    /// pos_emb.scale comes last, so that every other tensor keeps its offset, its alignment and its initialisation stream
    /// (a sinusoidal model and a sinusoidal-fixed one of one seed differ by the scale alone). With the linear coordinate
    /// the token embedding is (V, d-1), kaiming-normal over its own fan-in d-1.
    /// </summary>
    public static (ParameterLayout Layout, TransformerParameters<LayoutEntry> Entries) Declare(ModelConfig config)
    {
        if (!config.ValidateFields().IsTransformer) throw new ArgumentException($"not a transformer configuration: {config}");
        var layout = new ParameterLayout();
        int v = config.VocabSize, d = config.Dim, e = config.TokenEmbeddingDim;
        double linear = 1 / Math.Sqrt(d);
        var entries = new TransformerParameters<LayoutEntry>(
            TokenEmbedding: layout.Add("tok_emb.weight", [v, e], InitKind.Normal, Math.Sqrt(2.0 / e)),
            PositionEmbedding: config.HasLearnedPositions
                ? layout.Add("pos_emb.weight", [config.MaxLength, d], InitKind.Normal, 1.0)
                : null,
            Layers: [.. Enumerable.Range(0, config.Layers).Select(l => DeclareLayer(layout, $"layers.{l}.", d))],
            FinalNormWeight: layout.Add("final_norm.weight", [d], InitKind.Ones),
            FinalNormBias: layout.Add("final_norm.bias", [d], InitKind.Zeros),
            HeadWeight: layout.Add("head.weight", [v, d], InitKind.Uniform, linear),
            HeadBias: layout.Add("head.bias", [v], InitKind.Uniform, linear),
            PositionScale: config.Position == PositionEncoding.Sinusoidal
                ? layout.Add("pos_emb.scale", [1], InitKind.Constant, 1 / Math.Sqrt(d))
                : null);
        return (layout, entries);
    }

    static TransformerLayerParameters<LayoutEntry> DeclareLayer(ParameterLayout layout, string prefix, int d)
    {
        double linear = 1 / Math.Sqrt(d), linear4 = 1 / Math.Sqrt(4 * d);
        return new(
            AttnNormWeight: layout.Add(prefix + "attn_norm.weight", [d], InitKind.Ones),
            AttnNormBias: layout.Add(prefix + "attn_norm.bias", [d], InitKind.Zeros),
            // checkpoints keep PyTorch's three (C,C) tensors; declared adjacent, they are one (3C,C) weight here
            Wqkv: LayoutEntry.Stack(prefix + "attn.wqkv",
                layout.Add(prefix + "attn.wq.weight", [d, d], InitKind.Uniform, linear),
                layout.Add(prefix + "attn.wk.weight", [d, d], InitKind.Uniform, linear),
                layout.Add(prefix + "attn.wv.weight", [d, d], InitKind.Uniform, linear)),
            Wo: layout.Add(prefix + "attn.wo.weight", [d, d], InitKind.Uniform, linear),
            FfNormWeight: layout.Add(prefix + "ff_norm.weight", [d], InitKind.Ones),
            FfNormBias: layout.Add(prefix + "ff_norm.bias", [d], InitKind.Zeros),
            W1: layout.Add(prefix + "ff.w1.weight", [4 * d, d], InitKind.Uniform, linear),
            B1: layout.Add(prefix + "ff.w1.bias", [4 * d], InitKind.Uniform, linear),
            W2: layout.Add(prefix + "ff.w2.weight", [d, 4 * d], InitKind.Uniform, linear4),
            B2: layout.Add(prefix + "ff.w2.bias", [d], InitKind.Uniform, linear4));
    }
}
