namespace RawFlipFlop.Engine.Models;

/// <summary>How a parameter tensor is initialised (PyTorch's defaults for each module).</summary>
public enum InitKind
{
    /// <summary>N(0, std).</summary>
    Normal,
    /// <summary>U(-bound, bound).</summary>
    Uniform,
    /// <summary>All ones (LayerNorm weight).</summary>
    Ones,
    /// <summary>All zeros (LayerNorm bias).</summary>
    Zeros,
}

/// <summary>One parameter tensor: its checkpoint name, PyTorch shape, offset in the flat buffer and its initialisation.</summary>
public sealed record TensorSpec(string Name, int[] Shape, long Offset, InitKind Init, double Scale)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
    public string ShapeText => "[" + string.Join(",", Shape) + "]";
}

/// <summary>The ordered list of a model's parameter tensors, sliced out of one contiguous buffer.</summary>
public sealed class ParameterLayout
{
    readonly List<TensorSpec> _tensors = [];
    readonly Dictionary<string, TensorSpec> _byName = [];

    public IReadOnlyList<TensorSpec> Tensors => _tensors;
    public long Count { get; private set; }

    public TensorSpec Add(string name, int[] shape, InitKind init, double scale = 0)
    {
        var spec = new TensorSpec(name, shape, Count, init, scale);
        _tensors.Add(spec);
        _byName.Add(name, spec);
        Count += spec.Count;
        return spec;
    }

    public TensorSpec this[string name] =>
        _byName.TryGetValue(name, out var spec) ? spec : throw new KeyNotFoundException($"no parameter named {name}");

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The layout of a configuration, in checkpoint order (brief section 5).</summary>
    public static ParameterLayout For(ModelConfig config)
    {
        config.Validate();
        var layout = new ParameterLayout();
        int v = config.VocabSize;
        if (config.IsLstm)
        {
            int e = config.EmbedDim, h = config.Hidden;
            double bound = 1 / Math.Sqrt(h);
            layout.Add("emb.weight", [v, e], InitKind.Normal, 1.0);
            layout.Add("lstm.weight_ih_l0", [4 * h, e], InitKind.Uniform, bound);
            layout.Add("lstm.weight_hh_l0", [4 * h, h], InitKind.Uniform, bound);
            layout.Add("lstm.bias_ih_l0", [4 * h], InitKind.Uniform, bound);
            layout.Add("lstm.bias_hh_l0", [4 * h], InitKind.Uniform, bound);
            layout.Add("head.weight", [v, h], InitKind.Uniform, bound);
            layout.Add("head.bias", [v], InitKind.Uniform, bound);
            return layout;
        }
        int d = config.Dim;
        double linear = 1 / Math.Sqrt(d), linear4 = 1 / Math.Sqrt(4 * d);
        layout.Add("tok_emb.weight", [v, d], InitKind.Normal, Math.Sqrt(2.0 / d));
        if (config.Position == PositionEncoding.Learned)
            layout.Add("pos_emb.weight", [config.MaxLength, d], InitKind.Normal, 1.0);
        for (int l = 0; l < config.Layers; l++)
        {
            string p = $"layers.{l}.";
            layout.Add(p + "attn_norm.weight", [d], InitKind.Ones);
            layout.Add(p + "attn_norm.bias", [d], InitKind.Zeros);
            // wq, wk, wv are adjacent: together they are the (3d, d) weight of one QKV matmul.
            layout.Add(p + "attn.wq.weight", [d, d], InitKind.Uniform, linear);
            layout.Add(p + "attn.wk.weight", [d, d], InitKind.Uniform, linear);
            layout.Add(p + "attn.wv.weight", [d, d], InitKind.Uniform, linear);
            layout.Add(p + "attn.wo.weight", [d, d], InitKind.Uniform, linear);
            layout.Add(p + "ff_norm.weight", [d], InitKind.Ones);
            layout.Add(p + "ff_norm.bias", [d], InitKind.Zeros);
            layout.Add(p + "ff.w1.weight", [4 * d, d], InitKind.Uniform, linear);
            layout.Add(p + "ff.w1.bias", [4 * d], InitKind.Uniform, linear);
            layout.Add(p + "ff.w2.weight", [d, 4 * d], InitKind.Uniform, linear4);
            layout.Add(p + "ff.w2.bias", [d], InitKind.Uniform, linear4);
        }
        layout.Add("final_norm.weight", [d], InitKind.Ones);
        layout.Add("final_norm.bias", [d], InitKind.Zeros);
        layout.Add("head.weight", [v, d], InitKind.Uniform, linear);
        layout.Add("head.bias", [v], InitKind.Uniform, linear);
        return layout;
    }
}
