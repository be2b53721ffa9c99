using System.Numerics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Models;

/// <summary>The sharpening term's device values (e.g. per-layer entropy sums) and the loss computed from their host copy.</summary>
public sealed record RegularizerReading<T>(Buf<T> Values, Func<ReadOnlySpan<T>, double> Loss) where T : unmanaged
{
    public static RegularizerReading<T> None { get; } = new(Buf<T>.Empty, _ => 0);
}

/// <summary>What a forward/backward pass needs to know besides the tokens: dropout and sharpening.</summary>
public sealed record PassOptions
{
    /// <summary>Dropout on the embedding output (Transformer).</summary>
    public float DropoutEmbedding { get; init; }
    /// <summary>Dropout on the attention weights, after the softmax.</summary>
    public float DropoutAttention { get; init; }
    /// <summary>Dropout inside the feed-forward block: on the GELU output, before w2 (x-transformers' ff_dropout).</summary>
    public float DropoutFeedForward { get; init; }
    /// <summary>Seed of the dropout masks; with <see cref="Step"/> it fixes every mask.</summary>
    public ulong DropoutSeed { get; init; }
    /// <summary>Training step (selects fresh dropout masks each step).</summary>
    public long Step { get; init; }
    /// <summary>Attention-sharpening weight lambda: the objective adds lambda * mean attention-row entropy.</summary>
    public double Sharpen { get; init; }
    /// <summary>Layers the sharpening averages over (null = all).</summary>
    public IReadOnlyList<int>? SharpenLayers { get; init; }

    /// <summary>
    /// Softmax temperature of attention, for probing a trained model: every attention logit is divided by it (1: as
    /// trained; towards 0: hard attention). <see cref="TemperatureLayers"/> picks the layers (null: all).
    /// </summary>
    public float AttentionTemperature { get; init; } = 1f;
    public IReadOnlyList<int>? TemperatureLayers { get; init; }

    /// <summary>The attention temperature of <paramref name="layer"/> in this pass.</summary>
    public float TemperatureAt(int layer) => TemperatureLayers is null || TemperatureLayers.Contains(layer) ? AttentionTemperature : 1f;

    public static PassOptions Evaluation { get; } = new();

    /// <summary>An evaluation pass with attention at <paramref name="temperature"/> in <paramref name="layers"/> (null: all).</summary>
    public static PassOptions AtTemperature(float temperature, IReadOnlyList<int>? layers = null)
    {
        if (!(temperature > 0) || !float.IsFinite(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), $"attention temperature must be a finite number > 0, got {temperature}");
        return new() { AttentionTemperature = temperature, TemperatureLayers = layers };
    }

    /// <summary>The dropout mask of a <see cref="DropoutSite"/> at this step; none when p is 0.</summary>
    public DropoutSpec DropoutAt(float p, int site) =>
        p > 0 ? new DropoutSpec(p, DropoutSeed, DropoutSite.Stream(Step, site)) : DropoutSpec.None;
}

/// <summary>
/// A model written as explicit layer-by-layer forward and backward passes over <see cref="IOps{T}"/>.
/// Parameters, gradients and activations live in a few contiguous device allocations, sliced per tensor.
/// </summary>
public interface IModel<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    ModelConfig Config { get; }
    ParameterLayout Layout { get; }
    IOps<T> Ops { get; }

    /// <summary>All parameters (P), in <see cref="Layout"/> order.</summary>
    Buf<T> Parameters { get; }

    /// <summary>Their gradients (P), same layout; accumulated by <see cref="Backward"/>.</summary>
    Buf<T> Gradients { get; }

    /// <summary>
    /// logits (B,T,V) of tokens (B,T); the returned buffer belongs to the model and is valid until the next
    /// forward. Keeps what <see cref="Backward"/> needs.
    /// </summary>
    Buf<T> Forward(Buf<int> tokens, int b, int t, PassOptions options);

    /// <summary>
    /// The sharpening term of the last forward: lambda * mean entropy of the attention rows of the chosen layers
    /// (0 without sharpening or for the LSTM).
    /// </summary>
    double RegularizerLoss { get; }

    /// <summary>
    /// What <see cref="RegularizerLoss"/> of the last forward is computed from, for a reader that copies it back later:
    /// the device values (empty when there is no sharpening term) and the loss as a function of their host copy.
    /// </summary>
    RegularizerReading<T> RegularizerReading { get; }

    /// <summary>Accumulates into <see cref="Gradients"/> the gradient of (loss whose logit gradient is dlogits (B,T,V)) + regularizer.</summary>
    void Backward(Buf<T> dlogits, PassOptions options);
}
