using System.Text.Json;
using System.Text.Json.Serialization;
using RawFlipFlop.Engine.IO;

namespace RawFlipFlop.Engine.Models;

/// <summary>
/// How the Transformer knows positions. The names without a suffix are x-transformers 1.16.8's encodings (the library the
/// paper trained with) and the paper's own linear encoding; the suffixed ones are this engine's earlier variants, kept
/// under their own names (configurations of version 1 meant them by the plain names: see <see cref="ModelConfig.ConfigVersion"/>).
/// </summary>
public enum PositionEncoding
{
    /// <summary>Learned absolute embedding (init N(0,1)) times d^-0.5, added to the token embedding (the baseline).</summary>
    Learned,
    /// <summary>
    /// x-transformers' ScaledSinusoidalEmbedding: [sin(t f_i), cos(t f_i)], f_i = 10000^(-i/(d/2)), times a learned scalar
    /// (parameter pos_emb.scale [1], init d^-0.5), added.
    /// </summary>
    Sinusoidal,
    /// <summary>
    /// x-transformers' rotary embedding: the first rot = min(max(d_h/2, 32), d_h) dims of every head of q, k and v rotated
    /// (rotate-half form over those dims, angle t 10000^(-2i/rot)); the other dims pass through.
    /// </summary>
    Rope,
    /// <summary>ALiBi: score bias -slope_h (i - j) with the standard slopes, plus the learned absolute embedding unless use_abs_pos_emb is false.</summary>
    Alibi,
    /// <summary>No position information beyond causal masking.</summary>
    None,
    /// <summary>
    /// Appendix C.3: v_t = [e_t, t / C], the position a coordinate of its own: the token embedding is d-1 wide and the last
    /// of the d channels is t / C (C = linear_pos_divisor, default max_length).
    /// </summary>
    Linear,
    /// <summary>Rotary embedding of q and k (not v) over the full head dimension, rotate-half form, base 10000 (version 1's rope).</summary>
    [JsonStringEnumMemberName("rope-full")] RopeFull,
    /// <summary>Fixed sinusoids times the constant d^-0.5, no parameters (version 1's sinusoidal).</summary>
    [JsonStringEnumMemberName("sinusoidal-fixed")] SinusoidalFixed,
    /// <summary>t / C added onto the last token-embedding dimension (version 1's linear).</summary>
    [JsonStringEnumMemberName("linear-add")] LinearAdd,
}

/// <summary>
/// A model's architecture, stored as JSON in checkpoints. Transformer fields: layers, dim, heads, max_length,
/// pos, linear_pos_divisor, use_abs_pos_emb (ALiBi only), config_version. LSTM fields: embed_dim, hidden.
/// </summary>
public sealed record ModelConfig : IJsonOnDeserialized
{
    public const string TransformerKind = "transformer";
    public const string LstmKind = "lstm";

    /// <summary>
    /// The version of the position-encoding names: 2 since rope, sinusoidal, alibi and linear mean x-transformers 1.16.8's
    /// encodings and the paper's linear coordinate. A configuration without config_version is version 1, written before,
    /// where those names meant rope-full, sinusoidal-fixed, alibi without the absolute embedding and linear-add: it is
    /// read as those (<see cref="OnDeserialized"/>).
    /// </summary>
    public const int CurrentVersion = 2;

    public string Model { get; init; } = TransformerKind;
    public int VocabSize { get; init; } = 5;

    // Transformer
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Layers { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Dim { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Heads { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int MaxLength { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public PositionEncoding? Pos { get => _pos; init => _pos = value; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public double? LinearPosDivisor { get; init; }
    /// <summary>ALiBi only: whether the learned absolute embedding is added too (x-transformers' use_abs_pos_emb; null: yes, its default).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public bool? UseAbsPosEmb { get => _useAbsPosEmb; init => _useAbsPosEmb = value; }

    // LSTM
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int EmbedDim { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] public int Hidden { get; init; }

    /// <summary>
    /// Written as <see cref="CurrentVersion"/> when pos is one of the names whose meaning version 2 changed (rope, sinusoidal,
    /// alibi, linear), omitted otherwise: every other configuration reads the same in both versions, so its JSON (and
    /// the hash of run options holding it) is what version 1 wrote. Read back only to interpret pos.
    /// </summary>
    [JsonInclude, JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ConfigVersion { get => Pos is { } p && NameChangedInVersion2(p) ? CurrentVersion : null; private init => _readVersion = value; }

    PositionEncoding? _pos;
    bool? _useAbsPosEmb;
    int? _readVersion;   // config_version as read from JSON; cleared once pos is interpreted

    static bool NameChangedInVersion2(PositionEncoding p) =>
        p is PositionEncoding.Rope or PositionEncoding.Sinusoidal or PositionEncoding.Alibi or PositionEncoding.Linear;

    /// <summary>Version 1's meaning of the names version 2 changed, mapped to their names now; a future version is refused.</summary>
    void IJsonOnDeserialized.OnDeserialized()
    {
        int version = _readVersion ?? 1;
        _readVersion = null;
        if (version is < 1 or > CurrentVersion)
            throw new JsonException($"config_version {version}: this program reads configurations of versions 1 to {CurrentVersion}");
        if (version >= 2) return;
        switch (_pos)
        {
            case PositionEncoding.Rope: _pos = PositionEncoding.RopeFull; break;
            case PositionEncoding.Sinusoidal: _pos = PositionEncoding.SinusoidalFixed; break;
            case PositionEncoding.Linear: _pos = PositionEncoding.LinearAdd; break;
            case PositionEncoding.Alibi: _useAbsPosEmb ??= false; break;
        }
    }

    [JsonIgnore] public bool IsTransformer => Model == TransformerKind;
    [JsonIgnore] public bool IsLstm => Model == LstmKind;
    [JsonIgnore] public PositionEncoding Position => Pos ?? PositionEncoding.Learned;

    /// <summary>Whether the model has the learned absolute table pos_emb.weight: learned positions, and ALiBi unless switched off.</summary>
    [JsonIgnore]
    public bool HasLearnedPositions => Position == PositionEncoding.Learned || (Position == PositionEncoding.Alibi && (UseAbsPosEmb ?? true));

    /// <summary>Dimensions of each head that rope rotates: min(max(d_h/2, 32), d_h) as x-transformers 1.16.8 (rope-full: d_h).</summary>
    [JsonIgnore]
    public int RotaryDim => Heads <= 0 ? 0 : Position == PositionEncoding.RopeFull ? Dim / Heads : Math.Min(Math.Max(Dim / Heads / 2, 32), Dim / Heads);

    /// <summary>Width of the token embedding: d, or d-1 with the linear coordinate of Appendix C.3.</summary>
    [JsonIgnore] public int TokenEmbeddingDim => Position == PositionEncoding.Linear ? Dim - 1 : Dim;

    /// <summary>The paper's baseline: x-transformers Decoder(dim 512, depth 6, heads 8), learned positions, T = 512.</summary>
    public static ModelConfig Transformer(int layers = 6, int dim = 512, int heads = 8, int maxLength = 512,
        PositionEncoding pos = PositionEncoding.Learned, double? linearDivisor = null, bool? useAbsPosEmb = null) => new()
    {
        Model = TransformerKind, Layers = layers, Dim = dim, Heads = heads, MaxLength = maxLength, Pos = pos,
        LinearPosDivisor = pos is PositionEncoding.Linear or PositionEncoding.LinearAdd ? linearDivisor ?? maxLength : null,
        // x-transformers' default (true) is written as nothing, so one model has one JSON form
        UseAbsPosEmb = useAbsPosEmb == false ? false : null,
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
            Require(Enum.IsDefined(Position), "pos", $"unknown position encoding {(int)Position}");
            Require(Position is not (PositionEncoding.Rope or PositionEncoding.RopeFull) || RotaryDim % 2 == 0, "pos",
                $"{EnumText<PositionEncoding>.Of(Position)} rotates {RotaryDim} dims of each head (dim/heads = {Dim / Heads}): it needs an even number");
            Require(Position is not (PositionEncoding.Sinusoidal or PositionEncoding.SinusoidalFixed) || Dim % 2 == 0, "pos",
                $"sinusoidal positions need an even dim, got {Dim}");
            Require(MaxLength is >= 2 and <= MaxPositions, "max_length", $"must be in 2..{MaxPositions}, got {MaxLength}");
            Require(Position is not (PositionEncoding.Linear or PositionEncoding.LinearAdd) || (LinearPosDivisor is { } c && double.IsFinite(c) && c > 0),
                "linear_pos_divisor", $"linear positions need a positive divisor, got {LinearPosDivisor}");
            Require(UseAbsPosEmb is null || Position == PositionEncoding.Alibi, "use_abs_pos_emb",
                $"applies to alibi only (pos is {EnumText<PositionEncoding>.Of(Position)})");
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

    /// <summary>Longest sequence the model accepts (a learned position table bounds it: learned positions, and ALiBi with the absolute embedding; other encodings extrapolate).</summary>
    [JsonIgnore]
    public int MaxSequenceLength => IsTransformer && HasLearnedPositions ? MaxLength : int.MaxValue;

    public override string ToString() => IsLstm
        ? $"LSTM(embed {EmbedDim}, hidden {Hidden})"
        : $"Transformer(L {Layers}, d {Dim}, H {Heads}, pos {EnumText<PositionEncoding>.Of(Position)}{(UseAbsPosEmb == false ? " without abs" : "")}, T {MaxLength})";
}
