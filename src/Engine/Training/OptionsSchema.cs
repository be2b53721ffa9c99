using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RawFlipFlop.Engine.IO;

namespace RawFlipFlop.Engine.Training;

/// <summary>
/// The one JSON form of <see cref="TrainOptions"/> (the model configuration included), used by summary.json, the
/// results store and the resume state. Every property of the record is written (a test enumerates them), so a run
/// can be re-created from its JSON; the canonical text (compact, declaration order) and its SHA-256 identify a run's
/// options when a run is resumed or skipped.
/// </summary>
public static class OptionsSchema
{
    /// <summary>The options as a JSON object (snake_case keys).</summary>
    public static JsonObject ToJson(TrainOptions options) => JsonSerializer.SerializeToNode(options, Json.Options)!.AsObject();

    /// <summary>The canonical one-line JSON text of the options.</summary>
    public static string Canonical(TrainOptions options) => JsonSerializer.Serialize(options, Json.Compact);

    /// <summary>Hex SHA-256 of the canonical text.</summary>
    public static string Hash(TrainOptions options) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Canonical(options))));

    /// <summary>Options read back from their JSON text; <paramref name="source"/> names where the text came from in errors.</summary>
    public static TrainOptions FromJson(string json, string source)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainOptions>(json, Json.Options)
                   ?? throw new FormatException($"{source}: the options are null");
        }
        catch (Exception e) when (e is JsonException or ArgumentException)
        {
            throw new FormatException($"{source}: unreadable options: {e.Message}", e);
        }
    }

    /// <summary>
    /// The fields in which two options differ, as "path: value in <paramref name="stored"/> vs value in
    /// <paramref name="requested"/>" (paths like "model.hidden" or "offline[0].count").
    /// </summary>
    public static IReadOnlyList<string> Differences(TrainOptions stored, TrainOptions requested) =>
        Differences(ToJson(stored), ToJson(requested));

    public static IReadOnlyList<string> Differences(JsonNode? stored, JsonNode? requested)
    {
        var a = Flatten(stored);
        var b = Flatten(requested);
        var list = new List<string>();
        foreach (var key in a.Keys.Union(b.Keys).Order(StringComparer.Ordinal))
        {
            a.TryGetValue(key, out var x);
            b.TryGetValue(key, out var y);
            if (x != y) list.Add($"{key}: {x ?? "absent"} there, {y ?? "absent"} now");
        }
        return list;
    }

    static Dictionary<string, string> Flatten(JsonNode? node)
    {
        var flat = new Dictionary<string, string>(StringComparer.Ordinal);
        void Walk(JsonNode? n, string path)
        {
            switch (n)
            {
                case JsonObject o:
                    foreach (var (k, v) in o) Walk(v, path.Length == 0 ? k : $"{path}.{k}");
                    break;
                case JsonArray arr:
                    if (arr.Count == 0) flat[path] = "[]";
                    for (int i = 0; i < arr.Count; i++) Walk(arr[i], $"{path}[{i}]");
                    break;
                default:
                    flat[path] = n?.ToJsonString() ?? "null";
                    break;
            }
        }
        Walk(node, "");
        return flat;
    }
}

/// <summary>A run directory or store entry that was made with other options than the ones asked for now.</summary>
public sealed class OptionsMismatchException(string where, IReadOnlyList<string> differences)
    : Exception($"{where} was made with other options ({string.Join("; ", differences)})")
{
    public string Where { get; } = where;
    public IReadOnlyList<string> Differences { get; } = differences;
}
