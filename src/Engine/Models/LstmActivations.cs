namespace RawFlipFlop.Engine.Models;

/// <summary>
/// What the LSTM keeps of one (B,T) batch shape (shapes at <see cref="LstmActivations.Declare"/>). A slot is a
/// <see cref="LayoutEntry"/> or, through <see cref="Map{TView}"/>, its view in the model's one activation block.
/// </summary>
public sealed record LstmActivations<TSlot>(TSlot Embedded, TSlot InputProjection, TSlot Hidden, TSlot Cells, TSlot Gates,
    TSlot Logits, TSlot DHidden, TSlot DInputProjection, TSlot DEmbedded)
{
    public LstmActivations<TView> Map<TView>(Func<TSlot, TView> view) => new(view(Embedded), view(InputProjection),
        view(Hidden), view(Cells), view(Gates), view(Logits), view(DHidden), view(DInputProjection), view(DEmbedded));
}

public static class LstmActivations
{
    /// <summary>The activation block of a batch shape, N = B*T, in the order the block has always had.</summary>
    public static (BufferLayout Layout, LstmActivations<LayoutEntry> Entries) Declare(ModelConfig config, int b, int t)
    {
        var layout = new BufferLayout();
        long n = (long)b * t;
        int e = config.EmbedDim, h = config.Hidden;
        var entries = new LstmActivations<LayoutEntry>(
            // (N,E) embeddings
            Embedded: layout.Add("embedded", n, e),
            // (N,4H) x W_ih^T + b_ih: the input's share of every gate
            InputProjection: layout.Add("input_projection", n, 4 * h),
            // (N,H) hidden states
            Hidden: layout.Add("hidden", n, h),
            // (N,H) cell states
            Cells: layout.Add("cells", n, h),
            // (N,4H) gate activations
            Gates: layout.Add("gates", n, 4 * h),
            // (N,V)
            Logits: layout.Add("logits", n, config.VocabSize),
            // (N,H) gradient of the hidden states
            DHidden: layout.Add("d_hidden", n, h),
            // (N,4H) gradient of the input projection
            DInputProjection: layout.Add("d_input_projection", n, 4 * h),
            // (N,E) gradient of the embeddings
            DEmbedded: layout.Add("d_embedded", n, e));
        return (layout, entries);
    }
}
