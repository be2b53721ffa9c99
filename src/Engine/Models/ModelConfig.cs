using System.Text.Json.Serialization;

namespace RawFlipFlop.Engine.Models;

/// <summary>How the Transformer knows positions.</summary>
public enum PositionEncoding
{
    /// <summary>Learned absolute embedding (init N(0,1)) times d^-0.5, added to the token embedding (the baseline).</summary>
    Learned,
    /// <summary>Fixed sinusoids [sin(t f_i), cos(t f_i)], f_i = 10000^(-i/(d/2)), times d^-0.5, added (no parameters).</summary>
    Sinusoidal,
    /// <summary>Rotary embedding of q and k over the full head dimension, rotate-half form, base 10000.</summary>
    Rope,
    /// <summary>ALiBi: score bias -slope_h (i - j) with the standard slopes.</summary>
    Alibi,
    /// <summary>No position information beyond causal masking.</summary>
    None,
    /// <summary>Appendix C.3: t / C added to the last embedding dimension (C = linear_pos_divisor, default max_length).</summary>
    Linear,
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

    /// <summary>The widest width (dim, embed_dim, hidden) and the largest vocabulary a configuration may have.</summary>
    public const int MaxWidth = 1 << 16, MaxVocabulary = 1 << 16;
    /// <summary>The longest learned position table.</summary>
    public const int MaxPositions = 1 << 20;
    /// <summary>Parameters are one host array and safetensors shapes are 32-bit: at most this many.</summary>
    public const long MaxParameters = int.MaxValue;

    /// <summary>
    /// Checks every field and the parameter count before anything is allocated; throws
    /// <see cref="RawFlipFlop.Engine.Training.InvalidOptionException"/> naming the first bad field by its JSON name.
    /// </summary>
    public ModelConfig Validate()
    {
        ValidateFields();
        long count = ParameterLayout.CountOf(this);
        Require(count <= MaxParameters, "model", $"{this} would have {count:N0} parameters; at most {MaxParameters:N0}");
        return this;
    }

    /// <summary>The field checks alone: enough to declare the layout safely (every size is bounded).</summary>
    internal ModelConfig ValidateFields()
    {
        Require(VocabSize is >= 2 and <= MaxVocabulary, "vocab_size", $"must be in 2..{MaxVocabulary}, got {VocabSize}");
        if (IsTransformer)
        {
            Require(Layers >= 1, "layers", $"must be at least 1, got {Layers}");
            Require(Layers <= DropoutSite.MaxLayers, "layers",
                $"must be at most {DropoutSite.MaxLayers} (each layer has two dropout sites among the {DropoutSite.PerStep} random streams of a training step), got {Layers}");
            Require(Dim is >= 2 and <= MaxWidth, "dim", $"must be in 2..{MaxWidth}, got {Dim}");
            Require(Heads >= 1 && Heads <= Dim && Dim % Heads == 0, "heads", $"{Heads} must divide dim ({Dim})");
            Require(Position != PositionEncoding.Rope || (Dim / Heads) % 2 == 0, "pos", $"rope needs an even head dimension, dim/heads = {Dim / Heads}");
            Require(Position != PositionEncoding.Sinusoidal || Dim % 2 == 0, "pos", $"sinusoidal positions need an even dim, got {Dim}");
            Require(MaxLength is >= 2 and <= MaxPositions, "max_length", $"must be in 2..{MaxPositions}, got {MaxLength}");
            Require(Position != PositionEncoding.Linear || (LinearPosDivisor is { } c && double.IsFinite(c) && c > 0), "linear_pos_divisor",
                $"linear positions need a positive divisor, got {LinearPosDivisor}");
        }
        else if (IsLstm)
        {
            Require(EmbedDim is >= 1 and <= MaxWidth, "embed_dim", $"must be in 1..{MaxWidth}, got {EmbedDim}");
            Require(Hidden is >= 1 and <= MaxWidth, "hidden", $"must be in 1..{MaxWidth}, got {Hidden}");
        }
        else throw new RawFlipFlop.Engine.Training.InvalidOptionException("model", $"must be \"{TransformerKind}\" or \"{LstmKind}\", got \"{Model}\"");
        return this;
    }

    static void Require(bool condition, string field, string problem) =>
        RawFlipFlop.Engine.Training.InvalidOptionException.Require(condition, field, problem);

    /// <summary>Longest sequence the model accepts (learned positions are a table; other encodings extrapolate).</summary>
    [JsonIgnore]
    public int MaxSequenceLength => IsTransformer && Position == PositionEncoding.Learned ? MaxLength : int.MaxValue;

    public override string ToString() => IsLstm
        ? $"LSTM(embed {EmbedDim}, hidden {Hidden})"
        : $"Transformer(L {Layers}, d {Dim}, H {Heads}, pos {Position.ToString().ToLowerInvariant()}, T {MaxLength})";
}
