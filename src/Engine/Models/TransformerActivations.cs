namespace RawFlipFlop.Engine.Models;

/// <summary>
/// What the Transformer keeps of one (B,T) batch shape (shapes at <see cref="TransformerActivations.Declare"/>):
/// the forward's activations that the backward reads, and the backward's gradient buffers, which every layer
/// reuses. A slot is a <see cref="LayoutEntry"/> or, through <see cref="Map{TView}"/>, its view in the model's
/// one activation block.
/// </summary>
public sealed record TransformerActivations<TSlot>(TSlot Encoded, IReadOnlyList<TransformerLayerActivations<TSlot>> Layers,
    TSlot Scratch, TSlot LnF, TSlot LnFMean, TSlot LnFRstd, TSlot Logits,
    TSlot DResidual, TSlot DNorm, TSlot DAtty, TSlot DQkv, TSlot DHidden, TSlot Entropy)
{
    public TransformerActivations<TView> Map<TView>(Func<TSlot, TView> view) => new(view(Encoded), [.. Layers.Select(layer => layer.Map(view))],
        view(Scratch), view(LnF), view(LnFMean), view(LnFRstd), view(Logits),
        view(DResidual), view(DNorm), view(DAtty), view(DQkv), view(DHidden), view(Entropy));
}

/// <summary>The activations of one block that its backward reads.</summary>
public sealed record TransformerLayerActivations<TSlot>(TSlot Output, TSlot Ln1, TSlot Ln1Mean, TSlot Ln1Rstd,
    TSlot Qkv, TSlot Atty, TSlot Saved, TSlot Mid, TSlot Ln2, TSlot Ln2Mean, TSlot Ln2Rstd, TSlot Fch, TSlot FchGelu)
{
    public TransformerLayerActivations<TView> Map<TView>(Func<TSlot, TView> view) => new(view(Output),
        view(Ln1), view(Ln1Mean), view(Ln1Rstd), view(Qkv), view(Atty), view(Saved), view(Mid),
        view(Ln2), view(Ln2Mean), view(Ln2Rstd), view(Fch), view(FchGelu));
}

public static class TransformerActivations
{
    /// <summary>
    /// The activation block of a batch shape, N = B*T; savedAttention is the ops' length of one layer's attention
    /// state. Per-layer buffers are declared field by field (every layer's output, then every layer's ln1, ...),
    /// the order the block has always had, so that every buffer keeps its offset and alignment.
    /// </summary>
    public static (BufferLayout Layout, TransformerActivations<LayoutEntry> Entries) Declare(ModelConfig config, int b, int t, long savedAttention)
    {
        var layout = new BufferLayout();
        long n = (long)b * t;
        int c = config.Dim, layers = config.Layers;
        // (N,C) embedding output: the residual stream entering layer 0
        var encoded = layout.Add("encoded", n, c);
        // (N,C) residual stream leaving the layer
        var output = layout.AddPerLayer(layers, "output", n, c);
        // (N,C), (N), (N) attention LayerNorm output, mean and reciprocal std
        var ln1 = layout.AddPerLayer(layers, "ln1", n, c);
        var ln1Mean = layout.AddPerLayer(layers, "ln1_mean", n);
        var ln1Rstd = layout.AddPerLayer(layers, "ln1_rstd", n);
        // (N,3C) q, k, v after RoPE
        var qkv = layout.AddPerLayer(layers, "qkv", n, 3 * c);
        // (N,C) attention output before wo
        var atty = layout.AddPerLayer(layers, "atty", n, c);
        // the attention state the backward needs, as long as the ops ask: (B,H,T,3) row statistics on every device
        var saved = layout.AddPerLayer(layers, "saved", savedAttention);
        // (N,C) residual stream after the attention residual
        var mid = layout.AddPerLayer(layers, "mid", n, c);
        // (N,C), (N), (N) feed-forward LayerNorm output, mean and reciprocal std
        var ln2 = layout.AddPerLayer(layers, "ln2", n, c);
        var ln2Mean = layout.AddPerLayer(layers, "ln2_mean", n);
        var ln2Rstd = layout.AddPerLayer(layers, "ln2_rstd", n);
        // (N,4C) w1 output (GELU input)
        var fch = layout.AddPerLayer(layers, "fch", n, 4 * c);
        // (N,4C) GELU output after feed-forward dropout (w2 input)
        var fchGelu = layout.AddPerLayer(layers, "fch_gelu", n, 4 * c);
        var entries = new TransformerActivations<LayoutEntry>(
            Encoded: encoded,
            Layers: [.. Enumerable.Range(0, layers).Select(l => new TransformerLayerActivations<LayoutEntry>(
                Output: output[l], Ln1: ln1[l], Ln1Mean: ln1Mean[l], Ln1Rstd: ln1Rstd[l], Qkv: qkv[l], Atty: atty[l], Saved: saved[l],
                Mid: mid[l], Ln2: ln2[l], Ln2Mean: ln2Mean[l], Ln2Rstd: ln2Rstd[l], Fch: fch[l], FchGelu: fchGelu[l]))],
            // (N,C) a matmul output before its residual add
            Scratch: layout.Add("scratch", n, c),
            // (N,C), (N), (N) final LayerNorm output, mean and reciprocal std
            LnF: layout.Add("lnf", n, c),
            LnFMean: layout.Add("lnf_mean", n),
            LnFRstd: layout.Add("lnf_rstd", n),
            // (N,V)
            Logits: layout.Add("logits", n, config.VocabSize),
            // (N,C) gradient of the residual stream
            DResidual: layout.Add("d_residual", n, c),
            // (N,C) gradient of a LayerNorm output
            DNorm: layout.Add("d_norm", n, c),
            // (N,C) gradient of the attention output
            DAtty: layout.Add("d_atty", n, c),
            // (N,3C) gradient of q, k, v
            DQkv: layout.Add("d_qkv", n, 3 * c),
            // (N,4C) gradient of the feed-forward hidden layer
            DHidden: layout.Add("d_hidden", n, 4 * c),
            // (L) summed attention-row entropies per layer (sharpened layers only)
            Entropy: layout.Add("entropy", layers));
        return (layout, entries);
    }
}
