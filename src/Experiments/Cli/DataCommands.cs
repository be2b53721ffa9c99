using System.CommandLine;
using System.Diagnostics;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>`data generate | check | stats`: flip-flop datasets on disk.</summary>
public static class DataCommands
{
    public static Command Build(CliOutput output)
    {
        var data = new Command("data", "Generate, validate and describe flip-flop datasets (text or Parquet).");
        data.Add(Generate(output));
        data.Add(Check(output));
        data.Add(Stats(output));
        data.Add(ImportHf(output));
        return data;
    }

    static Command Generate(CliOutput output)
    {
        var pIgnore = new Option<double?>("--p-ignore") { Description = "p_i of FFL(p_i); p_w = p_r = (1 - p_i)/2 unless given" }.Probability();
        var pWrite = new Option<double?>("--p-write") { Description = "p_w (with --p-read; p_i = 1 - p_w - p_r). With --automaton: P(input is a write), default 0.5" }.Probability();
        var pRead = new Option<double?>("--p-read") { Description = "p_r (with --p-write)" }.Probability();
        var mixture = new Option<string?>("--mixture") { Description = "uniform mixture of FFL(p_i) over these p_i, e.g. 0.9,0.98,0.1 (the paper's R4)" };
        var split = new Option<string?>("--split") { Description = "write a named evaluation set instead: indist, sparse, dense or online (its distribution and seed)" };
        var count = new Option<int?>("--count") { Description = "number of sequences (default: the split's size, else 1000)" }.AtLeast(0);
        var length = new Option<int>("--length") { Description = "sequence length T in tokens (even, >= 4)", DefaultValueFactory = _ => EvaluationSets.DefaultLength };
        var seed = new Option<ulong>("--seed") { Description = "seed: sequence k is a pure function of (seed, k)", DefaultValueFactory = _ => 0 };
        var first = new Option<long>("--first") { Description = "index of the first sequence (to write a shard of a larger set)", DefaultValueFactory = _ => 0 }.AtLeast(0);
        var automaton = new Option<bool>("--automaton") { Description = "write the flip-flop automaton task (inputs -,0,1 and states) instead" };
        var outFile = new Option<string>("--out") { Description = "output file: .parquet for Parquet, anything else for text", Required = true };
        var cmd = new Command("generate", "Sample flip-flop sequences FFL(T, p) (or automaton sequences) to a file.")
        {
            pIgnore, pWrite, pRead, mixture, split, count, length, seed, first, automaton, outFile,
        };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(outFile)!;
            bool isAutomaton = r.GetValue(automaton);
            int t = r.GetValue(length);
            if (isAutomaton ? t < 1 : t < 4 || t % 2 != 0)
                throw new CliException($"--length: must be {(isAutomaton ? "at least 1" : "even and at least 4")}, got {t}");
            int n = r.GetValue(count) ?? (r.GetValue(split) is { } named && EvaluationSets.TryByName(named, out var namedSet) ? namedSet.DefaultCount : 1000);
            CheckSize(n, t, isAutomaton);
            var watch = Stopwatch.StartNew();
            if (isAutomaton)
            {
                if (r.GetValue(pIgnore) != null || r.GetValue(mixture) != null || r.GetValue(split) != null)
                    throw new CliException("--automaton takes --p-write (probability of a write input), not --p-ignore, --mixture or --split");
                var sampler = new AutomatonSampler(r.GetValue(pWrite) ?? 0.5);
                var set = sampler.SampleMany(r.GetValue(seed), r.GetValue(first), n, t);
                AutomatonFiles.Write(path, set);
                output.Err.WriteLine($"wrote {n} automaton sequences of length {t} (p_write {sampler.PWrite}) to {path} in {watch.Elapsed.TotalSeconds:0.00} s");
                return 0;
            }
            FlipFlopDataset dataset;
            string what;
            if (r.GetValue(split) is { } splitName)
            {
                if (r.GetValue(pIgnore) != null || r.GetValue(pWrite) != null || r.GetValue(mixture) != null || r.GetValue(seed) != 0)
                    throw new CliException("--split fixes the distribution and the seed; do not combine it with --p-ignore, --p-write, --mixture or --seed");
                if (!EvaluationSets.TryByName(splitName, out var set))
                    throw new CliException($"--split: unknown evaluation set '{splitName}' (known: {string.Join(", ", EvaluationSets.All.Select(s => s.Name))})");
                var sampler = new FlipFlopSampler(set.Distribution);
                dataset = sampler.SampleMany(set.Seed, RandomDomain.Dataset, r.GetValue(first), n, t);
                what = $"evaluation set '{set.Name}' ({set.Description}, seed {set.Seed})";
            }
            else
            {
                var mix = MixtureFrom(r.GetValue(pIgnore), r.GetValue(pWrite), r.GetValue(pRead), r.GetValue(mixture));
                dataset = new FlipFlopSampler(mix).SampleMany(r.GetValue(seed), RandomDomain.Dataset, r.GetValue(first), n, t);
                what = $"{mix}, seed {r.GetValue(seed)}";
            }
            double sampled = watch.Elapsed.TotalSeconds;
            FlipFlopFiles.Write(path, dataset);
            output.Err.WriteLine($"wrote {dataset.Count} sequences of length {t} from {what} to {path} " +
                                 $"(sampled in {sampled:0.00} s, written in {watch.Elapsed.TotalSeconds - sampled:0.00} s)");
            return 0;
        });
        return cmd;
    }

    /// <summary>
    /// A set is sampled into one array and written from strings: refuse sizes past an array's reach or the memory
    /// at hand before sampling (about 3 bytes per token; 6 per automaton position, inputs and states).
    /// </summary>
    static void CheckSize(int count, int length, bool automaton)
    {
        long tokens = MemoryBudget.Product(count, length);
        if (tokens > Array.MaxLength)
            throw new CliException($"--count: {count} sequences of length {length} are {tokens} tokens; one file holds at most {Array.MaxLength}");
        try { MemoryBudget.Require(MemoryBudget.Product(tokens, automaton ? 6 : 3), $"--count: {count} sequences of length {length}"); }
        catch (InsufficientMemoryException e) { throw new CliException(e.Message); }
    }

    /// <summary>The distribution the generate options describe; exactly one way of naming it is allowed.</summary>
    public static FlipFlopMixture MixtureFrom(double? pIgnore, double? pWrite, double? pRead, string? mixture)
    {
        if (mixture != null)
        {
            if (pIgnore != null || pWrite != null || pRead != null)
                throw new CliException("--mixture names the distributions itself; do not combine it with --p-ignore, --p-write or --p-read");
            try { return FlipFlopMixture.Parse(mixture); }
            catch (Exception e) when (e is ArgumentException or FormatException) { throw new CliException($"--mixture: {e.Message}"); }
        }
        if (pWrite != null || pRead != null)
        {
            if (pWrite == null || pRead == null) throw new CliException("--p-write and --p-read go together");
            double ignore = 1 - pWrite.Value - pRead.Value;
            if (pIgnore != null && Math.Abs(pIgnore.Value - ignore) > 1e-9)
                throw new CliException($"--p-ignore {pIgnore} contradicts 1 - p_write - p_read = {ignore}");
            return FlipFlopMixture.Of(new FlipFlopDistribution(pWrite.Value, pRead.Value, Math.Max(0, ignore)));
        }
        if (pIgnore == null) throw new CliException("name the distribution: --p-ignore X, --p-write W --p-read R, --mixture X,Y,... or --split NAME");
        return FlipFlopMixture.Of(FlipFlopDistribution.WithIgnore(pIgnore.Value));
    }

    static Command Check(CliOutput output)
    {
        var file = new Argument<string>("FILE") { Description = "text or Parquet file of flip-flop strings (or automaton sequences)" };
        var limit = new Option<int>("--limit") { Description = "most problems to list (all are counted)", DefaultValueFactory = _ => 100 }.AtLeast(0);
        var cmd = new Command("check", "Validate a dataset: exit 0 with a summary when valid, exit 2 listing every problem when not.") { file, limit };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(file)!;
            if (!File.Exists(path)) throw new CliException($"{path}: no such file");
            int max = r.GetValue(limit);
            using var input = DataInput.Open(path);
            if (input.Kind == DataFileKind.Automaton)
            {
                var (data, problems) = AutomatonFiles.Check(input, max);
                if (problems.Total > 0) return Report(output, path, problems);
                output.Out.WriteLine($"{path}: valid automaton file, {data!.Count} sequences of length {data.Length}");
                return 0;
            }
            var result = FlipFlopFiles.Check(input, max);
            if (!result.IsValid) return Report(output, path, result.Problems);
            var stats = DatasetStatistics.Of(result.Dataset!);
            output.Out.WriteLine($"{path}: valid ({result.Format.ToString().ToLowerInvariant()}), {stats.Sequences} sequences of length {stats.Length}, " +
                                 $"{stats.Reads} reads, {stats.Writes} writes, {stats.Ignores} ignores");
            return 0;
        });
        return cmd;
    }

    static int Report(CliOutput output, string path, ProblemLog problems)
    {
        foreach (var p in problems.Problems) output.Err.WriteLine(p);
        if (problems.Total > problems.Problems.Count)
            output.Err.WriteLine($"... {problems.Total - problems.Problems.Count} more problems not listed (--limit {problems.Limit})");
        output.Err.WriteLine($"error: {path}: invalid, {problems.Total} problem{(problems.Total == 1 ? "" : "s")}");
        return ExitCodes.InvalidInput;
    }

    static Command ImportHf(CliOutput output)
    {
        var dir = new Argument<string>("DIR") { Description = "a downloaded snapshot of synthseq/flipflop (its data/ folder of train, val, val_dense and val_sparse Parquet shards)" };
        var registry = new Option<string?>("--registry") { Description = "split registry to add to (default $RFF_SPLITS, else ~/.rawflipflop/splits.json)" };
        var json = new Option<bool>("--json") { Description = "print a JSON list of the splits and their statistics" };
        var cmd = new Command("import-hf",
            "Validate a snapshot of the authors' Hugging Face dataset synthseq/flipflop, print each split's statistics, and register the splits " +
            "as hf-train, hf-val, hf-val_dense and hf-val_sparse for eval --split, train --data and inspect temperature --splits.") { dir, registry, json };
        cmd.SetAction(r =>
        {
            var splits = HuggingFaceSnapshot.Find(r.GetValue(dir)!);
            var registered = new List<RegisteredSplit>();
            var rows = new List<object>();
            foreach (var split in splits)
            {
                var (file, data) = TrainingDataFile.Open(split.Shards);
                var stats = DatasetStatistics.Of(data);
                long instructions = stats.Writes + stats.Reads + stats.Ignores;
                registered.Add(new RegisteredSplit(SplitRegistry.Prefix + split.Name, file.Files, file.Sequences, file.Length));
                rows.Add(new
                {
                    name = SplitRegistry.Prefix + split.Name, shards = split.Shards.Count, sequences = stats.Sequences, length = stats.Length,
                    writes = stats.Writes, reads = stats.Reads, ignores = stats.Ignores, p_ignore = (double)stats.Ignores / instructions,
                    reads_per_sequence = (double)stats.Reads / stats.Sequences, dependency_mean = stats.MeanDependency, dependency_max = stats.MaxDependency,
                });
                if (!r.GetValue(json))
                    output.Out.WriteLine($"{SplitRegistry.Prefix + split.Name,-14} {split.Shards.Count} shard(s) {stats.Sequences,9} sequences of length {stats.Length}, " +
                                         $"p_i {(double)stats.Ignores / instructions:0.000}, {(double)stats.Reads / stats.Sequences:0.00} reads per sequence, " +
                                         $"dependency mean {stats.MeanDependency:0.0} max {stats.MaxDependency}");
            }
            string path = r.GetValue(registry) ?? SplitRegistry.DefaultPath;
            SplitRegistry.Register(registered, path);
            if (r.GetValue(json)) output.Out.WriteLine(Json.Serialize(rows));
            else output.Out.WriteLine($"registered {string.Join(", ", registered.Select(s => s.Name))} in {path}");
            return 0;
        });
        return cmd;
    }

    static Command Stats(CliOutput output)
    {
        var file = new Argument<string>("FILE") { Description = "text or Parquet flip-flop dataset" };
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var cmd = new Command("stats", "Sequences, instruction counts, reads and dependency lengths of a dataset.") { file, json };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(file)!;
            if (!File.Exists(path)) throw new CliException($"{path}: no such file");
            var stats = DatasetStatistics.Of(FlipFlopFiles.Read(path));
            if (r.GetValue(json))
            {
                output.Out.WriteLine(Json.Serialize(new
                {
                    file = path,
                    sequences = stats.Sequences,
                    length = stats.Length,
                    writes = stats.Writes,
                    reads = stats.Reads,
                    ignores = stats.Ignores,
                    reads_per_sequence = (double)stats.Reads / stats.Sequences,
                    dependency_mean = stats.MeanDependency,
                    dependency_max = stats.MaxDependency,
                }));
                return 0;
            }
            long instructions = stats.Writes + stats.Reads + stats.Ignores;
            output.Out.WriteLine($"file          {path}");
            output.Out.WriteLine($"sequences     {stats.Sequences} of length {stats.Length}");
            output.Out.WriteLine($"writes        {stats.Writes} ({100.0 * stats.Writes / instructions:0.00}% of instructions)");
            output.Out.WriteLine($"reads         {stats.Reads} ({100.0 * stats.Reads / instructions:0.00}%, {(double)stats.Reads / stats.Sequences:0.00} per sequence)");
            output.Out.WriteLine($"ignores       {stats.Ignores} ({100.0 * stats.Ignores / instructions:0.00}%)");
            output.Out.WriteLine($"dependency    mean {stats.MeanDependency:0.00} tokens, max {stats.MaxDependency} tokens");
            return 0;
        });
        return cmd;
    }
}
