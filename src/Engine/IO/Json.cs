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
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);
}
