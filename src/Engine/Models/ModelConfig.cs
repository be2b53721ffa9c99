using System.Text.Json.Serialization;

namespace RawFlipFlop.Engine.Models;

/// <summary>How the Transformer knows positions.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<PositionEncoding>))]
public enum PositionEncoding
{
    /// <summary>Learned absolute embedding (init N(0,1)) times d^-0.5, added to the token embedding (the baseline).</summary>
    [JsonStringEnumMemberName("learned")] Learned,
    /// <summary>Fixed sinusoids [sin(t f_i), cos(t f_i)], f_i = 10000^(-i/(d/2)), times d^-0.5, added (no parameters).</summary>
    [JsonStringEnumMemberName("sinusoidal")] Sinusoidal,
    /// <summary>Rotary embedding of q and k over the full head dimension, rotate-half form, base 10000.</summary>
    [JsonStringEnumMemberName("rope")] Rope,
    /// <summary>ALiBi: score bias -slope_h (i - j) with the standard slopes.</summary>
    [JsonStringEnumMemberName("alibi")] Alibi,
    /// <summary>No position information beyond causal masking.</summary>
    [JsonStringEnumMemberName("none")] None,
    /// <summary>Appendix C.3: t / C added to the last embedding dimension (C = linear_pos_divisor, default max_length).</summary>
    [JsonStringEnumMemberName("linear")] Linear,
}

/// <summary>
/// A model's architecture, stored as JSON in checkpoints. Transformer fields: layers, dim, heads, max_length,
/// pos, linear_pos_divisor. LSTM fields: embed_dim, hidden.
/// </summary>
public sealed record ModelConfig
{
    public const string TransformerKind = "transformer";
    public const string LstmKind = "lstm";

    public string Model { get; init; } = TransformerKind;
    public int VocabSize { get; init; } = 5;

    // Transformer
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Layers { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Dim { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Heads { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int MaxLength { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public PositionEncoding? Pos { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public double? LinearPosDivisor { get; init; }

    // LSTM
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int EmbedDim { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Hidden { get; init; }

    [JsonIgnore] public bool IsTransformer => Model == TransformerKind;
    [JsonIgnore] public bool IsLstm => Model == LstmKind;
    [JsonIgnore] public PositionEncoding Position => Pos ?? PositionEncoding.Learned;

    /// <summary>The paper's baseline: x-transformers Decoder(dim 512, depth 6, heads 8), learned positions, T = 512.</summary>
    public static ModelConfig Transformer(int layers = 6, int dim = 512, int heads = 8, int maxLength = 512,
        PositionEncoding pos = PositionEncoding.Learned, double? linearDivisor = null) => new()
    {
        Model = TransformerKind, Layers = layers, Dim = dim, Heads = heads, MaxLength = maxLength, Pos = pos,
        LinearPosDivisor = pos == PositionEncoding.Linear ? linearDivisor ?? maxLength : null,
    };

    /// <summary>The paper's LSTM: Embedding(5, 128), LSTM(128, 128), Linear(128, 5).</summary>
    public static ModelConfig Lstm(int embedDim = 128, int hidden = 128) =>
        new() { Model = LstmKind, EmbedDim = embedDim, Hidden = hidden, Pos = null };

    /// <summary>Throws <see cref="ArgumentException"/> naming the first inconsistent field.</summary>
    public ModelConfig Validate()
    {
        if (VocabSize < 2) throw new ArgumentException($"vocab_size must be at least 2, got {VocabSize}");
        if (IsTransformer)
        {
            if (Layers < 1) throw new ArgumentException($"layers must be at least 1, got {Layers}");
            if (Layers > DropoutSite.MaxLayers)
                throw new ArgumentException($"layers must be at most {DropoutSite.MaxLayers} (each layer has two dropout sites among the {DropoutSite.PerStep} random streams of a training step), got {Layers}");
            if (Dim < 2) throw new ArgumentException($"dim must be at least 2, got {Dim}");
            if (Heads < 1 || Dim % Heads != 0) throw new ArgumentException($"heads ({Heads}) must divide dim ({Dim})");
            if (Position == PositionEncoding.Rope && (Dim / Heads) % 2 != 0) throw new ArgumentException($"rope needs an even head dimension, dim/heads = {Dim / Heads}");
            if (Position == PositionEncoding.Sinusoidal && Dim % 2 != 0) throw new ArgumentException($"sinusoidal positions need an even dim, got {Dim}");
            if (MaxLength < 2) throw new ArgumentException($"max_length must be at least 2, got {MaxLength}");
            if (Position == PositionEncoding.Linear && !(LinearPosDivisor > 0)) throw new ArgumentException("linear positions need linear_pos_divisor > 0");
        }
        else if (IsLstm)
        {
            if (EmbedDim < 1) throw new ArgumentException($"embed_dim must be at least 1, got {EmbedDim}");
            if (Hidden < 1) throw new ArgumentException($"hidden must be at least 1, got {Hidden}");
        }
        else throw new ArgumentException($"model must be \"{TransformerKind}\" or \"{LstmKind}\", got \"{Model}\"");
        return this;
    }

    /// <summary>Longest sequence the model accepts (learned positions are a table; other encodings extrapolate).</summary>
    [JsonIgnore]
    public int MaxSequenceLength => IsTransformer && Position == PositionEncoding.Learned ? MaxLength : int.MaxValue;

    public override string ToString() => IsLstm
        ? $"LSTM(embed {EmbedDim}, hidden {Hidden})"
        : $"Transformer(L {Layers}, d {Dim}, H {Heads}, pos {Position.ToString().ToLowerInvariant()}, T {MaxLength})";
}
