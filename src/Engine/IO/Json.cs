using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RawFlipFlop.Engine.IO;

/// <summary>JSON settings of every machine-readable output: snake_case keys, indented.</summary>
public static class Json
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // Enums as snake_case names everywhere (a member may name itself otherwise with JsonStringEnumMemberName).
        Converters = { new NonFiniteAsNull(), new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The same settings on one line: the canonical form that hashes are taken of.</summary>
    public static readonly JsonSerializerOptions Compact = new(Options) { WriteIndented = false };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
}

/// <summary>
/// JSON has no NaN or infinity: a diverged loss is written as null and read back as NaN, so a summary of a diverged
/// run is still valid JSON.
/// </summary>
public sealed class NonFiniteAsNull : JsonConverter<double>
{
    public override bool HandleNull => true;

    public override double Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Null ? double.NaN : reader.GetDouble();

    public override void Write(Utf8JsonWriter writer, double value, JsonSerializerOptions options)
    {
        if (double.IsFinite(value)) writer.WriteNumberValue(value);
        else writer.WriteNullValue();
    }
}

/// <summary>
/// The text of an enum value as JSON writes it (its <see cref="JsonStringEnumMemberNameAttribute"/>, else its snake_case
/// name): one spelling for JSON, the results store, the command line and messages.
/// </summary>
public static class EnumText<TEnum> where TEnum : struct, Enum
{
    static readonly (TEnum Value, string Text)[] s_names = Enum.GetValues<TEnum>()
        .Select(v => (v, typeof(TEnum).GetField(v.ToString())!.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name
                         ?? JsonNamingPolicy.SnakeCaseLower.ConvertName(v.ToString())))
        .ToArray();

    public static IReadOnlyList<string> Names { get; } = s_names.Select(n => n.Text).ToArray();

    public static string Of(TEnum value) => s_names.First(n => n.Value.Equals(value)).Text;

    public static bool TryParse(string text, out TEnum value)
    {
        foreach (var (v, t) in s_names)
            if (t == text) { value = v; return true; }
        value = default;
        return false;
    }

    /// <summary>The value named <paramref name="text"/>; an unknown name is an error naming <paramref name="what"/> and the choices.</summary>
    public static TEnum Parse(string text, string what) =>
        TryParse(text, out var value) ? value
            : throw new ArgumentException($"{what} must be {string.Join(", ", Names.SkipLast(1))} or {Names[^1]}, got \"{text}\"");
}
