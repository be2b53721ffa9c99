using System.CommandLine;
using System.Globalization;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>`train`: parses the options of one run and hands it to <see cref="TrainingJob"/>, rendering its progress.</summary>
public static class TrainCommand
{
    public static Command Build(CliOutput output)
    {
        var m = new ModelOptions();
        var task = new Option<string>("--task") { Description = "flipflop (language modelling) or automaton (the flip-flop automaton, vocab 3)", DefaultValueFactory = _ => "flipflop" };
        var pWrite = new Option<double>("--automaton-p-write") { Description = "automaton task: probability that an input is a write", DefaultValueFactory = _ => 0.5 };
        var length = new Option<int>("--length") { Description = "sequence length T", DefaultValueFactory = _ => 512 };
        var steps = new Option<int>("--steps") { Description = "optimisation steps", DefaultValueFactory = _ => 10_000 };
        var batch = new Option<int>("--batch") { Description = "sequences per step", DefaultValueFactory = _ => 16 };
        var lr = new Option<double>("--lr") { Description = "peak learning rate", DefaultValueFactory = _ => 3e-4 };
        var wd = new Option<double>("--weight-decay") { Description = "AdamW decoupled weight decay", DefaultValueFactory = _ => 0.1 };
        var beta1 = new Option<double>("--adam-beta1") { Description = "AdamW beta1", DefaultValueFactory = _ => 0.9 };
        var beta2 = new Option<double>("--adam-beta2") { Description = "AdamW beta2", DefaultValueFactory = _ => 0.999 };
        var eps = new Option<double>("--adam-eps") { Description = "AdamW epsilon", DefaultValueFactory = _ => 1e-8 };
        var warmup = new Option<int>("--warmup") { Description = "linear warm-up steps", DefaultValueFactory = _ => 50 };
        var decay = new Option<int?>("--decay-steps") { Description = "step where the linear decay reaches 0 (default steps + 1)" };
        var seed = new Option<ulong>("--seed") { Description = "model seed (initialisation, dropout masks)", DefaultValueFactory = _ => 1 };
        var dataSeed = new Option<ulong>("--data-seed") { Description = "data seed (training batches)", DefaultValueFactory = _ => 1 };
        var pIgnore = new Option<double>("--p-ignore") { Description = "training distribution FFL(p_i)", DefaultValueFactory = _ => 0.8 };
        var mixture = new Option<string?>("--mixture") { Description = "train on the uniform mixture of FFL(p_i) over these p_i, e.g. 0.9,0.98,0.1" };
        var data = new Option<string?>("--data")
        {
            Description = "train on this file's sequences (text, or Parquet with a string column text, as the authors' synthseq/flipflop), or a registered set (hf-train) " +
                          "in an order fixed by --data-seed, instead of sampling; --length defaults to the file's",
        };
        var mode = new Option<string>("--mode") { Description = "clean (loss on reads) or generative (loss on every next token)", DefaultValueFactory = _ => "clean" };
        var dEmb = new Option<float>("--dropout-emb") { Description = "dropout on the embedding output" };
        var dAttn = new Option<float>("--dropout-attn") { Description = "dropout on the attention weights" };
        var dFf = new Option<float>("--dropout-ff") { Description = "dropout on the feed-forward hidden activations (GELU output)" };
        var sharpen = new Option<double>("--sharpen") { Description = "lambda of the attention-sharpening regularizer (mean attention-row entropy)" };
        var sharpenLayers = new Option<string?>("--sharpen-layers") { Description = "comma-separated layers the regularizer averages over (default all)" };
        var sharpenFrom = new Option<int>("--sharpen-from") { Description = "first step the sharpening applies to (default 0: from the start)" };
        var evalEvery = new Option<int>("--eval-every") { Description = "online evaluation (and resumable state) every N steps (0: none)", DefaultValueFactory = _ => 100 };
        var evalCount = new Option<int>("--eval-count") { Description = "sequences of the online set", DefaultValueFactory = _ => 1000 };
        var offline = new Option<string?>("--offline") { Description = "final evaluation splits with sizes, e.g. sparse:100000,dense:100000 ('none' to skip; default sparse:100000,dense:100000,indist:10000, none for the automaton)" };
        var evalBatch = new Option<int?>("--eval-batch") { Description = "sequences per evaluation forward" };
        var backend = new Option<string>("--backend") { Description = "cpu, cuda, emulator, or auto (CUDA when a GPU is usable, else the CPU)", DefaultValueFactory = _ => Backend.Cpu };
        var outDir = new Option<string>("--out") { Description = "run directory (summary.json, model.safetensors, best.safetensors; state.safetensors while training)", Required = true };
        var quiet = new Option<bool>("--quiet") { Description = "no progress output" };
        var lossReadEvery = new Option<int?>("--loss-read-every")
        {
            Description = "copy the loss back asynchronously and read it every N steps (default 16 on cuda and the emulator, 1 on the CPU); every N gives the same curve",
        };
        var graphs = new Option<string>("--graphs")
        {
            Description = "on: each training step is one CUDA graph launch on cuda and the emulator; off: separate launches (the same bits)", DefaultValueFactory = _ => "on",
        };
        var precision = MatmulPrecisionOption.Create();
        var cmd = new Command("train",
            "Train a model on freshly sampled batches (or a data file's sequences); evaluate online and offline. A run killed midway resumes from --out when started again with the same options.")
        {
            task, pWrite, length, steps, batch, lr, wd, beta1, beta2, eps, warmup, decay, seed, dataSeed, pIgnore, mixture, data, mode,
            dEmb, dAttn, dFf, sharpen, sharpenLayers, sharpenFrom, evalEvery, evalCount, offline, evalBatch, backend, outDir, quiet, precision,
            lossReadEvery, graphs,
        };
        m.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var taskKind = CliParse.Enum<TaskKind>(r.GetValue(task)!, "--task");
            int t = r.GetValue(length);
            TrainingDataFile? dataFile = null;
            if (r.GetValue(data) is { } dataPath)
            {
                if (r.GetResult(pIgnore) is { Implicit: false } || r.GetValue(mixture) != null)
                    throw new CliException("--data: a training data file replaces --p-ignore/--mixture; give one or the other");
                if (SplitRegistry.TryGet(dataPath, out var registered))
                {
                    registered.Load(); // its files must still hold their registered bytes
                    dataFile = new TrainingDataFile(registered.Files, registered.Sequences, registered.Length);
                }
                else if (!File.Exists(dataPath)) throw new CliException($"--data {dataPath}: no such file nor registered set");
                else dataFile = TrainingDataFile.Open(dataPath).File;
                if (r.GetResult(length) is { Implicit: false } && t != dataFile.Length)
                    throw new CliException($"--length {t}: {dataPath} holds sequences of length {dataFile.Length}");
                t = dataFile.Length;
            }
            var config = m.Read(r, t);
            // The automaton's inputs are bottom, sigma0 and sigma1: the task fixes the vocabulary.
            if (taskKind == TaskKind.Automaton) config = config with { VocabSize = Automaton.InputVocabulary };
            TrainOptions options;
            try
            {
                options = new TrainOptions
                {
                    Model = config, Task = taskKind, AutomatonPWrite = r.GetValue(pWrite), Steps = r.GetValue(steps), Batch = r.GetValue(batch),
                    Length = t, LearningRate = r.GetValue(lr), WeightDecay = r.GetValue(wd),
                    AdamBeta1 = r.GetValue(beta1), AdamBeta2 = r.GetValue(beta2), AdamEpsilon = r.GetValue(eps),
                    Warmup = r.GetValue(warmup), DecaySteps = r.GetValue(decay), Seed = r.GetValue(seed), DataSeed = r.GetValue(dataSeed),
                    Data = TrainingData(r.GetValue(mixture), r.GetValue(pIgnore)), DataFile = dataFile,
                    Mode = CliParse.Enum<LossMode>(r.GetValue(mode)!, "--mode"),
                    DropoutEmbedding = r.GetValue(dEmb), DropoutAttention = r.GetValue(dAttn), DropoutFeedForward = r.GetValue(dFf),
                    Sharpen = r.GetValue(sharpen), SharpenLayers = ParseLayers(r.GetValue(sharpenLayers)), SharpenFrom = r.GetValue(sharpenFrom),
                    EvalEvery = r.GetValue(evalEvery), EvalCount = r.GetValue(evalCount),
                    Offline = ParseOffline(r.GetValue(offline) ?? (taskKind == TaskKind.Automaton ? "none" : "sparse:100000,dense:100000,indist:10000")),
                    EvalBatch = r.GetValue(evalBatch),
                }.Validate();
            }
            catch (InvalidOptionException e) { throw OptionFlags.Error(e); }
            catch (Exception e) when (e is ArgumentException or FormatException) { throw new CliException(e.Message); }
            bool useGraphs = r.GetValue(graphs) switch
            {
                "on" => true,
                "off" => false,
                var other => throw new CliException($"--graphs: \"{other}\" is neither on nor off"),
            };
            if (r.GetValue(lossReadEvery) is < 1 and var every)
                throw new CliException($"--loss-read-every: must be at least 1, got {every}");
            using var b = Backends.Open(r.GetValue(backend)!, output);
            var defaults = StepExecution.For(b.Device);
            var execution = new StepExecution(r.GetValue(lossReadEvery) ?? defaults.LossReadInterval, useGraphs && defaults.DeviceGraphs);
            try { options = (options with { MatmulPrecision = MatmulPrecisionOption.Resolve(r.GetValue(precision)!, b.Name) }).Validate(); }
            catch (InvalidOptionException e) { throw OptionFlags.Error(e); }
            var view = new JobView(output, r.GetValue(quiet), $"train {options.Model}");
            string dir = r.GetValue(outDir)!;
            TrainingSummary summary;
            try
            {
                var job = new TrainingJob(options, b, execution);
                using var runDirectory = RunDirectory.Open(dir);
                summary = job.Run(runDirectory, new SyncProgress<JobEvent>(view.Show));
            }
            catch (InsufficientMemoryException e) { throw new CliException($"--batch/--length/--model: {e.Message}"); }
            catch (OptionsMismatchException e)
            {
                throw new CliException($"--out {dir}: {e.Message}; use another --out, or delete {RunDirectory.StateFile} there to start over");
            }
            output.Out.WriteLine($"trained {summary.Steps} steps in {summary.TrainSeconds:0.0} s; {EnumText<RunStatus>.Of(summary.Status)}; final loss {summary.FinalLoss:0.000000}");
            foreach (var e in summary.Eval)
                output.Out.WriteLine($"  {EnumText<Iterate>.Of(e.Iterate),-5} (step {e.Step,6}) {e.Split,-7} {e.Errors,8} errors / {e.Reads,10} reads, {e.SequencesWithErrors} sequences with errors");
            output.Out.WriteLine($"wrote {Path.Combine(dir, RunDirectory.SummaryFile)}");
            if (summary.Status == RunStatus.Diverged)
                throw new CliException($"training diverged at step {summary.DivergedAt}: the loss is {summary.Losses[^1]}; " +
                                       $"{RunDirectory.SummaryFile} records the run (lower --lr?)", ExitCodes.Failure);
            return 0;
        });
        return cmd;
    }

    /// <summary>The training distribution of --mixture or --p-ignore, with errors that name the option.</summary>
    static FlipFlopMixture TrainingData(string? mixture, double pIgnore)
    {
        string option = mixture != null ? "--mixture" : "--p-ignore";
        try { return mixture != null ? FlipFlopMixture.Parse(mixture) : FlipFlopMixture.Of(FlipFlopDistribution.WithIgnore(pIgnore)); }
        catch (Exception e) when (e is ArgumentException or FormatException) { throw new CliException($"{option}: {e.Message}"); }
    }

    static IReadOnlyList<int>? ParseLayers(string? text) => text == null ? null
        : text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int l) ? l : throw new CliException($"--sharpen-layers: \"{s}\" is not a layer index"))
            .ToList();

    static IReadOnlyList<OfflineSplit> ParseOffline(string text)
    {
        if (text == "none") return [];
        var list = new List<OfflineSplit>();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split(':');
            if (!EvaluationSets.TryByName(pieces[0], out var set)) throw new CliException($"--offline: unknown split \"{pieces[0]}\" (indist, sparse, dense, online)");
            int count = set.DefaultCount;
            if (pieces.Length > 1 && !int.TryParse(pieces[1], NumberStyles.None, CultureInfo.InvariantCulture, out count))
                throw new CliException($"--offline: \"{pieces[1]}\" is not a sequence count");
            list.Add(new OfflineSplit(set.Name, count));
        }
        return list;
    }
}
