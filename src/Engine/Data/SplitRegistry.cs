using System.Text.Json;
using RawFlipFlop.Engine.IO;

namespace RawFlipFlop.Engine.Data;

/// <summary>A data set registered under a name: its files (concatenated in order, each with its SHA-256), sequences and length.</summary>
public sealed record RegisteredSplit(string Name, IReadOnlyList<DataShard> Files, long Sequences, int Length)
{
    /// <summary>The sequences, after checking every file still has its registered bytes.</summary>
    public FlipFlopDataset Load() => new TrainingDataFile(Files, Sequences, Length).Load();
}

/// <summary>
/// Named data sets from files (`data import-hf` registers the authors' splits as hf-train, hf-val, hf-val_dense and
/// hf-val_sparse), usable wherever a named evaluation set or a data file is: `eval --split`, `train --data`,
/// `inspect temperature --splits`. The registry is a JSON file: $RFF_SPLITS, else ~/.rawflipflop/splits.json.
/// </summary>
public static class SplitRegistry
{
    public const string Prefix = "hf-";

    public static string DefaultPath => Environment.GetEnvironmentVariable("RFF_SPLITS") is { Length: > 0 } path ? path
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".rawflipflop", "splits.json");

    /// <summary>The registered sets (none when the file does not exist); a damaged registry is an error naming it.</summary>
    public static IReadOnlyDictionary<string, RegisteredSplit> Read(string? path = null)
    {
        path ??= DefaultPath;
        if (!File.Exists(path)) return new Dictionary<string, RegisteredSplit>();
        try
        {
            var splits = JsonSerializer.Deserialize<List<RegisteredSplit>>(File.ReadAllText(path), Json.Options)
                         ?? throw new InvalidDataException("null");
            foreach (var s in splits)
                if (string.IsNullOrEmpty(s.Name) || s.Files is not { Count: > 0 } || s.Files.Any(f => string.IsNullOrEmpty(f?.Path) || f.Sha256 is not { Length: 64 }) || s.Length < 1)
                    throw new InvalidDataException($"entry \"{s.Name}\" is incomplete");
            return splits.ToDictionary(s => s.Name);
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: not a split registry ({e.Message}); delete it and run data import-hf again");
        }
    }

    public static bool TryGet(string name, out RegisteredSplit split, string? path = null)
    {
        split = null!;
        return name.StartsWith(Prefix, StringComparison.Ordinal) && Read(path).TryGetValue(name, out split!);
    }

    /// <summary>Adds or replaces <paramref name="splits"/> and writes the registry at once (atomically).</summary>
    public static void Register(IEnumerable<RegisteredSplit> splits, string? path = null)
    {
        path ??= DefaultPath;
        var all = Read(path).ToDictionary();
        foreach (var s in splits) all[s.Name] = s;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(all.Values.OrderBy(s => s.Name, StringComparer.Ordinal).ToList(), Json.Options));
    }
}
