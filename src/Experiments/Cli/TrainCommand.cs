using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>`train`: one training run with online evaluation, final offline evaluation, summary and checkpoints.</summary>
public static class TrainCommand
{
    public static Command Build(CliOutput output)
    {
        var m = new ModelOptions();
        var length = new Option<int>("--length") { Description = "sequence length T", DefaultValueFactory = _ => 512 };
        var steps = new Option<int>("--steps") { Description = "optimisation steps", DefaultValueFactory = _ => 10_000 };
        var batch = new Option<int>("--batch") { Description = "sequences per step", DefaultValueFactory = _ => 16 };
        var lr = new Option<double>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => 3e-4 };
        var wd = new Option<double>("--weight-decay") { Description = "AdamW decoupled weight decay", DefaultValueFactory = _ => 0.1 };
        var warmup = new Option<int>("--warmup") { Description = "linear warm-up steps", DefaultValueFactory = _ => 50 };
        var decay = new Option<int?>("--decay-steps") { Description = "step where the linear decay reaches 0 (default steps + 1)" };
        var seed = new Option<ulong>("--seed") { Description = "model seed (initialisation, dropout masks)", DefaultValueFactory = _ => 1 };
        var dataSeed = new Option<ulong>("--data-seed") { Description = "data seed (training batches)", DefaultValueFactory = _ => 1 };
        var pIgnore = new Option<double>("--p-ignore") { Description = "training distribution FFL(p_i)", DefaultValueFactory = _ => 0.8 };
        var mixture = new Option<string?>("--mixture") { Description = "train on the uniform mixture of FFL(p_i) over these p_i, e.g. 0.9,0.98,0.1" };
        var mode = new Option<string>("--mode") { Description = "clean (loss on reads) or generative (loss on every next token)", DefaultValueFactory = _ => "clean" };
        var dEmb = new Option<float>("--dropout-emb") { Description = "dropout on the embedding output" };
        var dAttn = new Option<float>("--dropout-attn") { Description = "dropout on the attention weights" };
        var dFf = new Option<float>("--dropout-ff") { Description = "dropout on the feed-forward hidden activations (GELU output)" };
        var sharpen = new Option<double>("--sharpen") { Description = "lambda of the attention-sharpening regularizer (mean attention-row entropy)" };
        var sharpenLayers = new Option<string?>("--sharpen-layers") { Description = "comma-separated layers the regularizer averages over (default all)" };
        var evalEvery = new Option<int>("--eval-every") { Description = "online evaluation period in steps (0: none)", DefaultValueFactory = _ => 100 };
        var evalCount = new Option<int>("--eval-count") { Description = "sequences of the online set", DefaultValueFactory = _ => 1000 };
        var offline = new Option<string>("--offline") { Description = "final evaluation splits with sizes, e.g. sparse:100000,dense:100000 ('none' to skip)", DefaultValueFactory = _ => "sparse:100000,dense:100000,indist:10000" };
        var evalBatch = new Option<int?>("--eval-batch") { Description = "sequences per evaluation forward" };
        var backend = new Option<string>("--backend") { Description = "cpu, cuda, emulator, or auto (CUDA when a GPU is usable, else the CPU)", DefaultValueFactory = _ => Backends.Cpu };
        var outDir = new Option<string>("--out") { Description = "output directory (summary.json, model.safetensors, best.safetensors)", Required = true };
        var quiet = new Option<bool>("--quiet") { Description = "no progress output" };
        var cmd = new Command("train", "Train a model on freshly sampled flip-flop batches; evaluate online and offline.")
        {
            length, steps, batch, lr, wd, warmup, decay, seed, dataSeed, pIgnore, mixture, mode, dEmb, dAttn, dFf, sharpen, sharpenLayers,
            evalEvery, evalCount, offline, evalBatch, backend, outDir, quiet,
        };
        m.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var config = m.Read(r, r.GetValue(length));
            TrainOptions options;
            try
            {
                options = new TrainOptions
                {
                    Model = config, Steps = r.GetValue(steps), Batch = r.GetValue(batch), Length = r.GetValue(length),
                    LearningRate = r.GetValue(lr), WeightDecay = r.GetValue(wd), Warmup = r.GetValue(warmup), DecaySteps = r.GetValue(decay),
                    Seed = r.GetValue(seed), DataSeed = r.GetValue(dataSeed),
                    Data = r.GetValue(mixture) is { } mix ? FlipFlopMixture.Parse(mix) : FlipFlopMixture.Of(FlipFlopDistribution.WithIgnore(r.GetValue(pIgnore))),
                    Mode = LossTargets.Parse(r.GetValue(mode)!),
                    DropoutEmbedding = r.GetValue(dEmb), DropoutAttention = r.GetValue(dAttn), DropoutFeedForward = r.GetValue(dFf),
                    Sharpen = r.GetValue(sharpen), SharpenLayers = ParseLayers(r.GetValue(sharpenLayers)),
                    EvalEvery = r.GetValue(evalEvery), EvalCount = r.GetValue(evalCount), Offline = ParseOffline(r.GetValue(offline)!),
                    EvalBatch = r.GetValue(evalBatch),
                }.Validate();
            }
            catch (ArgumentException e) { throw new CliException(e.Message); }
            string dir = r.GetValue(outDir)!;
            Directory.CreateDirectory(dir);
            using var b = Backends.Open(r.GetValue(backend)!, output);
            var summary = Train(options, b, dir, r.GetValue(quiet) ? null : output);
            output.Out.WriteLine($"trained {summary.Steps} steps in {summary.TrainSeconds:0.0} s; final loss {summary.FinalLoss:0.000000}");
            foreach (var e in summary.Eval)
                output.Out.WriteLine($"  {e.Iterate,-5} (step {e.Step,6}) {e.Split,-7} {e.Errors,8} errors / {e.Reads,10} reads, {e.SequencesWithErrors} sequences with errors");
            output.Out.WriteLine($"wrote {Path.Combine(dir, "summary.json")}");
            return 0;
        });
        return cmd;
    }

    static IReadOnlyList<int>? ParseLayers(string? text) => text == null ? null
        : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int l) ? l : throw new CliException($"--sharpen-layers: \"{s}\" is not a layer index"))
            .ToList();

    static IReadOnlyList<(string, int)> ParseOffline(string text)
    {
        if (text == "none") return [];
        var list = new List<(string, int)>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split(':');
            if (!EvaluationSets.TryByName(pieces[0], out var set)) throw new CliException($"--offline: unknown split \"{pieces[0]}\" (indist, sparse, dense, online)");
            int count = set.DefaultCount;
            if (pieces.Length > 1 && !int.TryParse(pieces[1], NumberStyles.None, CultureInfo.InvariantCulture, out count))
                throw new CliException($"--offline: \"{pieces[1]}\" is not a sequence count");
            list.Add((set.Name, count));
        }
        return list;
    }

    /// <summary>Runs the training, the final offline evaluations, and writes summary.json and the checkpoints into dir.</summary>
    public static TrainingSummary Train(TrainOptions options, Backends.Backend backend, string dir, CliOutput? output)
    {
        using var model = Engine.Models.ModelFactory.Create(options.Model, backend.Ops);
        model.Initialize(options.Seed);
        using var run = new TrainingRun<float>(options, model);
        var progress = output == null ? null : new ProgressLine(output, $"train {options.Model}");
        run.Run(p => progress?.Update(
            $"step {p.Step}/{p.Steps} loss {p.Loss:0.0000}" + (p.LastOnline is { } o ? $" online {o.Errors}/{o.Reads} errors (step {o.Step})" : ""),
            p.Step, p.Steps, p.Elapsed));
        progress?.Done();

        var evalClock = Stopwatch.StartNew();
        ProgressLine? line = null;
        string? current = null;
        var records = OfflineEvaluation.Run(run, (label, done, total) =>
        {
            if (output == null) return;
            if (label != current) { line?.Done(); line = new ProgressLine(output, label); current = label; }
            line!.Update($"{done}/{total} sequences", done, total, evalClock.Elapsed);
        });
        line?.Done();
        var summary = TrainingSummary.Create(run, backend.Name, records, evalClock.Elapsed.TotalSeconds);
        Checkpoint.Save(model, Path.Combine(dir, "model.safetensors"), new Dictionary<string, string> { ["step"] = run.Step.ToString(CultureInfo.InvariantCulture) });
        if (run.BestParameters != null)
        {
            var bestTensors = Checkpoint.Tensors<float>(model.Layout, run.BestParameters);
            SafeTensors.Write(Path.Combine(dir, "best.safetensors"), bestTensors,
                Checkpoint.Metadata(options.Model, new Dictionary<string, string> { ["step"] = run.Best!.Step.ToString(CultureInfo.InvariantCulture) }));
        }
        AtomicFile.WriteAllText(Path.Combine(dir, "summary.json"), Json.Serialize(summary));
        return summary;
    }
}
