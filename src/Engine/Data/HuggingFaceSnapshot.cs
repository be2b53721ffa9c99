using System.Globalization;
using System.Text.RegularExpressions;

namespace RawFlipFlop.Engine.Data;

/// <summary>One split of a dataset snapshot: its name and its Parquet shards in order.</summary>
public sealed record SnapshotSplit(string Name, IReadOnlyList<string> Shards);

/// <summary>
/// A downloaded snapshot of the authors' Hugging Face dataset `synthseq/flipflop`: Parquet shards named
/// SPLIT-iiiii-of-nnnnn[-hash].parquet for the splits train, val, val_dense and val_sparse, in DIR/data or DIR itself,
/// each with a string column `text` of flip-flop strings (w=0 r=1 i=2 '0'=3 '1'=4).
/// </summary>
public static partial class HuggingFaceSnapshot
{
    public static readonly string[] Splits = ["train", "val", "val_dense", "val_sparse"];

    [GeneratedRegex(@"^(?<split>train|val|val_dense|val_sparse)-(?<i>\d{5})-of-(?<n>\d{5})(-[0-9A-Za-z]+)?\.parquet$")]
    private static partial Regex ShardName();

    /// <summary>The four splits' shards; a missing split or shard, or a shard numbered twice, is an error naming it.</summary>
    public static IReadOnlyList<SnapshotSplit> Find(string dir)
    {
        if (!Directory.Exists(dir)) throw new InvalidDataException($"{dir}: no such directory");
        string data = Path.Combine(dir, "data");
        string root = Directory.Exists(data) ? data : dir;
        var shards = new Dictionary<string, SortedDictionary<int, string>>();
        var counts = new Dictionary<string, int>();
        foreach (var path in Directory.EnumerateFiles(root, "*.parquet").Order(StringComparer.Ordinal))
        {
            var m = ShardName().Match(Path.GetFileName(path));
            if (!m.Success) continue;
            string split = m.Groups["split"].Value;
            int i = int.Parse(m.Groups["i"].Value, CultureInfo.InvariantCulture), n = int.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
            if (counts.TryGetValue(split, out int known) && known != n)
                throw new InvalidDataException($"{path}: split {split} is numbered of {n} here and of {known} in another shard");
            counts[split] = n;
            var list = shards.TryGetValue(split, out var l) ? l : shards[split] = [];
            if (i >= n) throw new InvalidDataException($"{path}: shard {i} of {n}");
            if (!list.TryAdd(i, path)) throw new InvalidDataException($"{path}: shard {i} of {split} is also {list[i]}");
        }
        var result = new List<SnapshotSplit>();
        foreach (var split in Splits)
        {
            if (!shards.TryGetValue(split, out var list))
                throw new InvalidDataException($"{root}: no {split}-*-of-*.parquet shards (a synthseq/flipflop snapshot has {string.Join(", ", Splits)})");
            var missing = Enumerable.Range(0, counts[split]).Where(i => !list.ContainsKey(i)).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"{root}: split {split} lacks shard{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(i => $"{i:00000}-of-{counts[split]:00000}"))}");
            result.Add(new SnapshotSplit(split, list.Values.ToList()));
        }
        return result;
    }
}
