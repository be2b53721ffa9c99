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
    /// <summary>Every element the scale (the scaled sinusoidal embedding's scalar, d^-0.5).</summary>
    Constant,
}

/// <summary>One parameter tensor: its checkpoint name, PyTorch shape, offset in the flat buffer and its initialisation.</summary>
public sealed record TensorSpec(string Name, int[] Shape, long Offset, InitKind Init, double Scale)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);
    public string ShapeText => "[" + string.Join(",", Shape) + "]";
}

/// <summary>
/// The ordered list of a model's parameter tensors, sliced out of one contiguous buffer. The order is the
/// checkpoint order, and tensor i is initialised from random stream i, so declarations must never be reordered.
/// </summary>
public sealed class ParameterLayout
{
    readonly BufferLayout _buffer = new();
    readonly List<TensorSpec> _tensors = [];

    public IReadOnlyList<TensorSpec> Tensors => _tensors;
    public long Count => _buffer.Count;

    /// <summary>Appends a tensor under its checkpoint name; returns where it lies.</summary>
    public LayoutEntry Add(string name, int[] shape, InitKind init, double scale = 0)
    {
        var entry = _buffer.Add(name, Array.ConvertAll(shape, size => (long)size));
        _tensors.Add(new TensorSpec(name, shape, entry.Offset, init, scale));
        return entry;
    }

    /// <summary>The layout of a configuration, in checkpoint order.</summary>
    public static ParameterLayout For(ModelConfig config) => Declare(config.Validate());

    /// <summary>The parameter count of a configuration whose fields are valid (its size is not checked yet).</summary>
    internal static long CountOf(ModelConfig config) => Declare(config).Count;

    static ParameterLayout Declare(ModelConfig config) =>
        config.IsLstm ? LstmParameters.Declare(config).Layout : TransformerParameters.Declare(config).Layout;
}
