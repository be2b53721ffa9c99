using System.CommandLine;
using System.Globalization;
using RawFlipFlop.Engine.Analysis;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Engine.Training.Tasks;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>`glitches list`: the errors a results store recorded, each with what regenerates its sequence.</summary>
public static class GlitchCommands
{
    public static Command Build(CliOutput output)
    {
        var cmd = new Command("glitches", "The read errors (glitches) of trained models: list the recorded ones, mine for new ones.");
        cmd.Add(List(output));
        cmd.Add(Mine(output));
        return cmd;
    }

    static Command Mine(CliOutput output)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a language model checkpoint (Transformer or LSTM)", Required = true };
        var budget = new Option<long>("--budget") { Description = "sequences to evaluate", DefaultValueFactory = _ => 100_000 }.AtLeast(1);
        var strategy = new Option<string>("--strategy") { Description = "random (FFL(p) sampling), targeted (stress families) or mutate (local search from near misses)", DefaultValueFactory = _ => "mutate" };
        var pIgnore = new Option<double>("--p-ignore") { Description = "p_i of the random FFL sequences (random strategy, mutate's pool, the comparison)", DefaultValueFactory = _ => 0.98 }.Probability();
        var length = new Option<int?>("--length") { Description = "sequence length (default: the model's position table, else 512)" };
        var batch = new Option<int?>("--batch") { Description = "sequences per forward pass" }.AtLeast(1);
        var seed = new Option<ulong>("--seed") { Description = "seed of the search (the same seed repeats it exactly)", DefaultValueFactory = _ => 1 };
        var compare = new Option<bool>("--no-compare") { Description = "skip the comparison with random FFL sampling of the same budget" };
        var backend = new Option<string>("--backend") { Description = "cpu, cuda, emulator or auto", DefaultValueFactory = _ => Backend.Cpu };
        var outFile = new Option<string>("--out") { Description = "data file of the glitch sequences (text, or Parquet by .parquet), for eval --split FILE", Required = true };
        var cmd = new Command("mine",
            "Search for sequences the model misreads; report glitches per 10^5 sequences next to random FFL sampling of the same budget; " +
            "write the sequences as a data file.")
        {
            checkpoint, budget, strategy, pIgnore, length, batch, seed, compare, backend, outFile,
        };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(checkpoint)!;
            if (!File.Exists(path)) throw new CliException($"--checkpoint {path}: no such file");
            var chosen = CliParse.Enum<MiningStrategy>(r.GetValue(strategy)!, "--strategy");
            using var b = Backends.Open(r.GetValue(backend)!, output);
            using var model = ModelCommands.LoadModel(path, b.Ops);
            if (model.Config.VocabSize != Tokens.VocabularySize)
                throw new CliException($"--checkpoint {path}: {model.Config} is not a flip-flop language model (vocab_size {model.Config.VocabSize})");
            int t = r.GetValue(length) ?? (model.Config.MaxSequenceLength == int.MaxValue ? EvaluationSets.DefaultLength : model.Config.MaxLength);
            if (t < 4 || t % 2 != 0) throw new CliException($"--length: must be even and at least 4, got {t}");
            if (t > model.Config.MaxSequenceLength) throw new CliException($"--length: {t} exceeds {path}'s position table ({model.Config.MaxLength})");
            var miner = new GlitchMiner(model, t, r.GetValue(batch) ?? Evaluator<float>.DefaultBatch(model.Config));
            var distribution = FlipFlopDistribution.WithIgnore(r.GetValue(pIgnore));
            var result = miner.Mine(chosen, r.GetValue(budget), r.GetValue(seed), distribution);
            output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{EnumText<MiningStrategy>.Of(chosen)}: {result.Glitches.Count} glitches in {result.Evaluated} sequences ({result.PerHundredThousand:0.#} per 10^5)"));
            if (!r.GetValue(compare) && chosen != MiningStrategy.Random)
            {
                var random = miner.RandomSearch(result.Evaluated, r.GetValue(seed), distribution);
                output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"random {distribution}: {random.Glitches.Count} glitches in {random.Evaluated} sequences ({random.PerHundredThousand:0.#} per 10^5)"));
            }
            foreach (var g in result.Glitches.GroupBy(g => g.Dependency).OrderBy(g => g.Key).Take(20))
                output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  dependency {g.Key,5}: {g.Count()} glitches, least margin {g.Min(x => x.Margin):0.000}"));
            if (result.Glitches.Count == 0)
            {
                output.Err.WriteLine($"no glitch found; {r.GetValue(outFile)} not written");
                return 0;
            }
            var tokens = result.Glitches.SelectMany(g => g.Tokens).ToArray();
            FlipFlopFiles.Write(r.GetValue(outFile)!, new FlipFlopDataset(tokens, result.Glitches.Count, t));
            output.Out.WriteLine($"wrote {result.Glitches.Count} sequences to {r.GetValue(outFile)}");
            return 0;
        });
        return cmd;
    }

    static Command List(CliOutput output)
    {
        var db = new Option<string>("--db") { Description = "results store", Required = true };
        var run = new Option<string?>("--run") { Description = "only this run (EXPERIMENT/SETTING/REPLICATE)" };
        var split = new Option<string?>("--split") { Description = "only this evaluation split" };
        var limit = new Option<int>("--limit") { Description = "most records to print", DefaultValueFactory = _ => 50 }.AtLeast(0);
        var sequences = new Option<bool>("--sequences") { Description = "print each glitch's sequence, generated again from its set, with the read marked" };
        var json = new Option<bool>("--json") { Description = "print a JSON list of {run, iterate, split, sequence, position, dependency, predicted, p_correct[, text]}" };
        var cmd = new Command("list", "Glitch records of a results store: run, iterate, split, sequence index, read position, dependency length, " +
                                      "predicted token and the probability the model gave the right one.") { db, run, split, limit, sequences, json };
        cmd.SetAction(r =>
        {
            using var store = ResultsStore.OpenReadOnly(r.GetValue(db)!);
            var runs = store.Runs().ToDictionary(x => x.Id);
            string? only = r.GetValue(run);
            if (only != null && !runs.ContainsKey(only)) throw new CliException($"--run: {store.Path} has no run {only}");
            var records = store.Glitches(only, r.GetValue(split)).Take(r.GetValue(limit)).ToList();
            bool withText = r.GetValue(sequences);
            string? Text(string id, string s, Glitch g) => withText ? SequenceText(runs[id].Options(store.Path), s, g.Sequence) : null;
            if (r.GetValue(json))
            {
                output.Out.WriteLine(Json.Serialize(records.Select(x => new
                {
                    run = x.Run, iterate = EnumText<Iterate>.Of(x.Iterate), split = x.Split, sequence = x.Glitch.Sequence, position = x.Glitch.Position,
                    dependency = x.Glitch.Dependency, predicted = x.Glitch.Predicted, p_correct = x.Glitch.PCorrect,
                    text = Text(x.Run, x.Split, x.Glitch),
                })));
                return 0;
            }
            output.Out.WriteLine($"{"run",-32} {"iterate",-7} {"split",-14} {"sequence",9} {"position",8} {"dependency",10} {"predicted",9} {"p(right)",9}");
            foreach (var (id, iterate, s, g) in records)
            {
                var options = runs[id].Options(store.Path);
                output.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{id,-32} {EnumText<Iterate>.Of(iterate),-7} {s,-14} {g.Sequence,9} {g.Position,8} {g.Dependency,10} {TokenName(options, g.Predicted),9} {g.PCorrect,9:0.0000}"));
                if (Text(id, s, g) is { } text)
                {
                    output.Out.WriteLine($"  {text}");
                    output.Out.WriteLine($"  {new string(' ', g.Position)}^");
                }
            }
            output.Err.WriteLine($"{records.Count} glitch records{(records.Count == r.GetValue(limit) ? $" (--limit {r.GetValue(limit)})" : "")}");
            return 0;
        });
        return cmd;
    }

    static string TokenName(TrainOptions options, int token) => options.Task == TaskKind.Automaton
        ? token.ToString(CultureInfo.InvariantCulture)
        : token is >= 0 and < Tokens.VocabularySize ? ((char)Tokens.Characters[token]).ToString() : token.ToString(CultureInfo.InvariantCulture);

    /// <summary>The sequence a glitch was found in, generated again from its evaluation set and index.</summary>
    static string SequenceText(TrainOptions options, string split, long index)
    {
        if (options.Task == TaskKind.Automaton)
        {
            int length = split == "automaton" ? options.Length : int.Parse(split["automaton-".Length..], CultureInfo.InvariantCulture);
            var inputs = new byte[length];
            var states = new byte[length];
            new AutomatonSampler(options.AutomatonPWrite).Sample(AutomatonTask.OfflineSeed, index, inputs, states);
            return new string(inputs.Select(x => (char)Automaton.InputCharacters[x]).ToArray());
        }
        var set = EvaluationSets.ByName(split);
        var tokens = new byte[options.Length];
        new FlipFlopSampler(set.Distribution).Sample(set.Seed, RandomDomain.Dataset, index, tokens);
        return new string(tokens.Select(t => (char)Tokens.Characters[t]).ToArray());
    }
}
