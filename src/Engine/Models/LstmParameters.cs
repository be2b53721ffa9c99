namespace RawFlipFlop.Engine.Models;

/// <summary>
/// The LSTM's parameters by role (PyTorch's gate order i, f, g, o; two biases). A slot is a <see cref="LayoutEntry"/>
/// or, through <see cref="Map{TView}"/>, its view in the parameters or in the gradients.
/// </summary>
public sealed record LstmParameters<TSlot>(TSlot Embedding, TSlot WeightIh, TSlot WeightHh, TSlot BiasIh, TSlot BiasHh,
    TSlot HeadWeight, TSlot HeadBias)
{
    public LstmParameters<TView> Map<TView>(Func<TSlot, TView> view) => new(view(Embedding),
        view(WeightIh), view(WeightHh), view(BiasIh), view(BiasHh), view(HeadWeight), view(HeadBias));
}

public static class LstmParameters
{
    /// <summary>
    /// The parameters of a configuration under their checkpoint names (PyTorch's module names, shapes and default
    /// initialisations), in checkpoint order: arguments are evaluated in the order written.
    /// </summary>
    public static (ParameterLayout Layout, LstmParameters<LayoutEntry> Entries) Declare(ModelConfig config)
    {
        if (!config.ValidateFields().IsLstm) throw new ArgumentException($"not an LSTM configuration: {config}");
        var layout = new ParameterLayout();
        int v = config.VocabSize, e = config.EmbedDim, h = config.Hidden;
        double bound = 1 / Math.Sqrt(h);
        var entries = new LstmParameters<LayoutEntry>(
            Embedding: layout.Add("emb.weight", [v, e], InitKind.Normal, 1.0),
            WeightIh: layout.Add("lstm.weight_ih_l0", [4 * h, e], InitKind.Uniform, bound),
            WeightHh: layout.Add("lstm.weight_hh_l0", [4 * h, h], InitKind.Uniform, bound),
            BiasIh: layout.Add("lstm.bias_ih_l0", [4 * h], InitKind.Uniform, bound),
            BiasHh: layout.Add("lstm.bias_hh_l0", [4 * h], InitKind.Uniform, bound),
            HeadWeight: layout.Add("head.weight", [v, h], InitKind.Uniform, bound),
            HeadBias: layout.Add("head.bias", [v], InitKind.Uniform, bound));
        return (layout, entries);
    }
}
