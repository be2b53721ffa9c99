using System.CommandLine;
using System.Globalization;
using RawFlipFlop.Engine.Analysis;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Engine.Training.Tasks;
using RawFlipFlop.Experiments.Reports;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>
/// `inspect attention`: look inside a trained Transformer's attention on one sequence; `inspect temperature`: its read
/// errors and attention entropy as the attention logits are divided by a temperature.
/// </summary>
public static class InspectCommands
{
    public static Command Build(CliOutput output)
    {
        var cmd = new Command("inspect", "Look inside a trained model: its attention on a sequence, its errors as attention is made harder or softer.");
        cmd.Add(Attention(output));
        cmd.Add(Temperature(output));
        return cmd;
    }

    static Command Attention(CliOutput output)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a Transformer checkpoint (language or automaton model)", Required = true };
        var sequence = new Option<string?>("--sequence") { Description = "the input: a flip-flop string (w1i0r1...), or for an automaton model inputs over -01" };
        var from = new Option<string?>("--from") { Description = "the input as SET:INDEX: sequence INDEX of a named evaluation set (indist, sparse, dense, online) or of the automaton's offline set (automaton)" };
        var length = new Option<int?>("--length") { Description = "length of a --from sequence (default: the model's position table, else 512; automaton: 64)" }.AtLeast(1);
        var layers = new Option<string?>("--layers") { Description = "comma-separated layers (default all)" };
        var heads = new Option<string?>("--heads") { Description = "comma-separated heads (default all)" };
        var backend = new Option<string>("--backend") { Description = "cpu, cuda, emulator or auto", DefaultValueFactory = _ => Backend.Cpu };
        var outDir = new Option<string>("--out") { Description = "output directory: attention.png/.svg (layers x heads) and attention.safetensors", Required = true };
        var cmd = new Command("attention",
            "Attention probabilities of a checkpoint on one sequence from the kernels' analysis mode, drawn as a grid of layers x heads with " +
            "writes, reads, each row's maximum and the wrong predictions marked; the tensors as safetensors for Python.")
        {
            checkpoint, sequence, from, length, layers, heads, backend, outDir,
        };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(checkpoint)!;
            if (!File.Exists(path)) throw new CliException($"--checkpoint {path}: no such file");
            using var b = Backends.Open(r.GetValue(backend)!, output);
            using var loaded = ModelCommands.LoadModel(path, b.Ops);
            if (loaded is not TransformerModel<float> model)
                throw new CliException($"--checkpoint {path}: {loaded.Config} has no attention; inspect attention needs a Transformer");
            bool automaton = model.Config.VocabSize == Automaton.InputVocabulary;
            var tokens = Input(r.GetValue(sequence), r.GetValue(from), r.GetValue(length), model.Config, automaton);
            if (tokens.Length > model.Config.MaxSequenceLength)
                throw new CliException($"the sequence has {tokens.Length} tokens; {path}'s position table has {model.Config.MaxLength}");
            long analysis = MemoryBudget.Product(2, model.Config.Heads, tokens.Length, tokens.Length, sizeof(float));
            try { MemoryBudget.Require(MemoryBudget.Product(analysis, 3), $"--length {tokens.Length}: the attention maps"); }
            catch (InsufficientMemoryException e) { throw new CliException(e.Message); }
            var chosenLayers = Indices(r.GetValue(layers), "--layers", model.Config.Layers);
            var chosenHeads = Indices(r.GetValue(heads), "--heads", model.Config.Heads);
            var inspection = AttentionInspection.Of(model, tokens, chosenLayers, chosenHeads);
            string text = automaton ? new string(tokens.Select(x => (char)Automaton.InputCharacters[x]).ToArray()) : FlipFlopText.ToText(tokens);
            string title = $"{Path.GetFileName(path)}: {(text.Length <= 24 ? text : text[..21] + "...")}";
            var files = AttentionGrid.Figures(inspection, "attention", title).ToList();
            files.Add(("attention.safetensors", p => Tensors(p, inspection, model.Config, text)));
            string dir = r.GetValue(outDir)!;
            FileSet.PublishExclusive(dir, files);
            int wrong = inspection.Errors.Count(e => e);
            output.Out.WriteLine($"{tokens.Length} tokens, {chosenLayers.Count} layers x {chosenHeads.Count} heads; {wrong} wrong " +
                                 $"{(automaton ? "states" : "reads")}{(wrong > 0 ? $" at {string.Join(", ", Enumerable.Range(0, tokens.Length).Where(i => inspection.Errors[i]).Take(10))}" : "")}");
            output.Out.WriteLine($"wrote {Path.Combine(dir, "attention.png")}, attention.svg and attention.safetensors");
            return 0;
        });
        return cmd;
    }

    static Command Temperature(CliOutput output)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a flip-flop language-model Transformer checkpoint", Required = true };
        var values = new Option<string>("--values") { Description = "comma-separated temperatures, e.g. 2,1,0.5,0.25,0.125 (1: as trained)", Required = true };
        var splits = new Option<string>("--splits") { Description = "comma-separated named evaluation sets or flip-flop data files", DefaultValueFactory = _ => "sparse,dense" };
        var count = new Option<int>("--count") { Description = "sequences of each named set", DefaultValueFactory = _ => 10_000 }.AtLeast(1);
        var length = new Option<int?>("--length") { Description = "sequence length of the named sets (default: the model's position table, else 512)" };
        var layers = TemperatureOptions.Layers();
        var batch = new Option<int?>("--batch") { Description = "sequences per forward pass" }.AtLeast(1);
        var backend = new Option<string>("--backend") { Description = "cpu, cuda, emulator or auto", DefaultValueFactory = _ => Backend.Cpu };
        var outDir = new Option<string>("--out") { Description = "output directory: temperature.png/.svg, temperature-entropy.png/.svg, temperature.json", Required = true };
        var cmd = new Command("temperature",
            "Read errors and attention entropy of a checkpoint with its attention logits divided by each temperature (the paper's attention-dilution " +
            "argument, Proposition 3): T towards 0 approaches hard attention.")
        {
            checkpoint, values, splits, count, length, layers, batch, backend, outDir,
        };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(checkpoint)!;
            if (!File.Exists(path)) throw new CliException($"--checkpoint {path}: no such file");
            var temperatures = TemperatureOptions.ParseList(r.GetValue(values)!, "--values");
            var names = r.GetValue(splits)!.Split(',', StringSplitOptions.TrimEntries);
            if (names.Any(n => n.Length == 0)) throw new CliException($"--splits: empty entry in \"{r.GetValue(splits)}\"");
            if (names.Distinct().Count() != names.Length) throw new CliException("--splits: a set is given twice");
            using var b = Backends.Open(r.GetValue(backend)!, output);
            using var loaded = ModelCommands.LoadModel(path, b.Ops);
            if (loaded is not TransformerModel<float> model)
                throw new CliException($"--checkpoint {path}: {loaded.Config} has no attention; inspect temperature needs a Transformer");
            if (model.Config.VocabSize == Automaton.InputVocabulary)
                throw new CliException($"--checkpoint {path}: an automaton model; inspect temperature reads flip-flop evaluation sets");
            var chosen = TemperatureOptions.ReadLayers(r.GetValue(layers), temperatures[0], model.Config, "--values");
            int n = r.GetValue(length) ?? (model.Config.MaxSequenceLength == int.MaxValue ? EvaluationSets.DefaultLength : model.Config.MaxLength);
            if (n < 4 || n % 2 != 0) throw new CliException($"--length: must be even and at least 4, got {n}");
            var sets = new List<(string, FlipFlopDataset)>();
            foreach (var name in names)
            {
                var data = DataSources.Resolve(name, r.GetValue(count), n, "--splits");
                if (data.Length > model.Config.MaxSequenceLength)
                    throw new CliException($"--splits {name}: sequences of length {data.Length} exceed the model's max_length {model.Config.MaxLength}");
                sets.Add((name, data));
            }
            var progress = new ProgressLine(output, "inspect temperature");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var points = TemperatureProbe.Run(model, sets, temperatures, chosen, r.GetValue(batch) ?? Evaluator<float>.DefaultBatch(model.Config),
                (done, total) => progress.Update($"{done}/{total} evaluations", done, total, clock.Elapsed, force: true));
            progress.Done();
            string json = Json.Serialize(new
            {
                checkpoint = path, layers = chosen, points = points.Select(p => new
                {
                    temperature = p.Temperature, split = p.Split, sequences = p.Sequences, reads = p.Reads, errors = p.Errors,
                    sequences_with_errors = p.SequencesWithErrors, error_rate = p.ErrorRate, attention_entropy = p.AttentionEntropy,
                }),
            });
            var files = TemperatureFigure.Figures(points, Path.GetFileName(path)).ToList();
            files.Add(("temperature.json", p => AtomicFile.WriteAllText(p, json)));
            string dir = r.GetValue(outDir)!;
            FileSet.PublishExclusive(dir, files);
            output.Out.WriteLine($"{"T",8} {"set",-10} {"reads",10} {"errors",8} {"rate",10}  entropy per layer (nats)");
            foreach (var p in points)
                output.Out.WriteLine($"{p.Temperature.ToString("0.####", CultureInfo.InvariantCulture),8} {p.Split,-10} {p.Reads,10} {p.Errors,8} {p.ErrorRate,10:E2}  " +
                                     string.Join(" ", p.AttentionEntropy.Select(e => e.ToString("0.000", CultureInfo.InvariantCulture))));
            output.Out.WriteLine($"wrote {Path.Combine(dir, "temperature.png")}, temperature.svg, temperature-entropy.png/.svg and temperature.json");
            return 0;
        });
        return cmd;
    }

    /// <summary>The tokens of --sequence or --from (exactly one), validated.</summary>
    static byte[] Input(string? sequence, string? from, int? length, ModelConfig config, bool automaton)
    {
        if ((sequence == null) == (from == null)) throw new CliException("--sequence/--from: give exactly one of them");
        if (sequence != null)
        {
            var tokens = new byte[sequence.Length];
            if (automaton)
            {
                for (int i = 0; i < sequence.Length; i++)
                {
                    int x = Automaton.InputFromChar(sequence[i]);
                    if (x < 0) throw new CliException($"--sequence: column {i + 1}: '{sequence[i]}' is not an automaton input (-, 0 or 1)");
                    tokens[i] = (byte)x;
                }
                if (tokens.Length == 0) throw new CliException("--sequence: empty");
                return tokens;
            }
            string? problem = null;
            FlipFlopValidator.Validate(sequence, tokens, (column, reason) => problem ??= $"column {column}: {reason}");
            if (problem != null) throw new CliException($"--sequence: {problem}");
            return tokens;
        }
        var parts = from!.Split(':');
        if (parts.Length != 2 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long index))
            throw new CliException($"--from: must look like SET:INDEX (e.g. sparse:17), got \"{from}\"");
        if (automaton)
        {
            if (parts[0] != "automaton") throw new CliException($"--from: an automaton model reads the set automaton, got \"{parts[0]}\"");
            int t = length ?? 64;
            var inputs = new byte[t];
            new AutomatonSampler(0.5).Sample(AutomatonTask.OfflineSeed, index, inputs, new byte[t]);
            return inputs;
        }
        if (!EvaluationSets.TryByName(parts[0], out var set))
            throw new CliException($"--from: unknown set \"{parts[0]}\" (known: {string.Join(", ", EvaluationSets.All.Select(s => s.Name))})");
        int n = length ?? (config.MaxSequenceLength == int.MaxValue ? EvaluationSets.DefaultLength : config.MaxLength);
        if (n < 4 || n % 2 != 0) throw new CliException($"--length: must be even and at least 4, got {n}");
        var sampled = new byte[n];
        new FlipFlopSampler(set.Distribution).Sample(set.Seed, RandomDomain.Dataset, index, sampled);
        return sampled;
    }

    internal static List<int> Indices(string? text, string option, int count)
    {
        if (text == null) return Enumerable.Range(0, count).ToList();
        var list = new List<int>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int i) || i >= count)
                throw new CliException($"{option}: \"{part}\" is not one of 0..{count - 1}");
            if (!list.Contains(i)) list.Add(i);
        }
        if (list.Count == 0) throw new CliException($"{option}: names nothing");
        return list;
    }

    /// <summary>probabilities and scores (L',H',T,T) F32, tokens, predictions and errors (T) I32; the text, layers and heads as metadata.</summary>
    static void Tensors(string path, AttentionInspection a, ModelConfig config, string text)
    {
        int l = a.Layers.Count, h = a.Heads.Count, t = a.Length;
        float[] Flat(float[][][] maps) => maps.SelectMany(layer => layer.SelectMany(head => head)).ToArray();
        SafeTensor Ints(string name, IEnumerable<int> values) =>
            new(name, SafeTensorType.I32, [t], System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.ToArray().AsSpan()).ToArray());
        SafeTensors.Write(path,
        [
            SafeTensor.FromFloats("probabilities", [l, h, t, t], Flat(a.Probabilities)),
            SafeTensor.FromFloats("scores", [l, h, t, t], Flat(a.Scores)),
            Ints("tokens", a.Tokens.Select(x => (int)x)),
            Ints("predictions", a.Predictions),
            Ints("errors", a.Errors.Select(e => e ? 1 : 0)),
        ], Checkpoint.Metadata(config, new Dictionary<string, string>
        {
            ["sequence"] = text,
            ["layers"] = string.Join(",", a.Layers),
            ["heads"] = string.Join(",", a.Heads),
        }));
    }
}
