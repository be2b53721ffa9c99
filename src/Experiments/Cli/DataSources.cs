using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.IO;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>
/// What a --split or --splits entry names: a fixed evaluation set (generated), a registered set (data import-hf; its
/// files checked against their SHA-256), or a data file.
/// </summary>
public static class DataSources
{
    public static string Known => $"{string.Join(", ", EvaluationSets.All.Select(s => s.Name))}, a registered set (hf-val, ...) or a data file";

    /// <param name="count">sequences of a named or registered set (null: a named set's paper size, all of a registered one)</param>
    public static FlipFlopDataset Resolve(string name, int? count, int length, string option)
    {
        if (EvaluationSets.TryByName(name, out var set))
        {
            int n = count ?? set.DefaultCount;
            long tokens = (long)n * length;
            if (tokens > Array.MaxLength) throw new CliException($"--count: {n} sequences of length {length} exceed one array ({Array.MaxLength} tokens)");
            try { MemoryBudget.Require(tokens, $"--count: {n} sequences of length {length}"); }
            catch (InsufficientMemoryException e) { throw new CliException(e.Message); }
            return set.Generate(n, length);
        }
        if (SplitRegistry.TryGet(name, out var registered))
        {
            var data = registered.Load();
            return count is { } c && c < data.Count ? data.Slice(0, c) : data;
        }
        if (File.Exists(name)) return FlipFlopFiles.Read(name);
        throw new CliException($"{option} {name}: not a named set, a registered set nor an existing file (known: {Known})");
    }
}
