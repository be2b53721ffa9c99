using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>`model`, `eval` and `grads`: describe a model, measure read errors, dump gradients.</summary>
public static class ModelCommands
{
    public static Command Model(CliOutput output)
    {
        var options = new ModelOptions();
        var length = new Option<int>("--length") { Description = "sequence length (sizes the learned position table)", DefaultValueFactory = _ => 512 };
        var json = new Option<bool>("--json") { Description = "print {\"params\": N, \"tensors\": [{\"name\", \"shape\"}...]}" };
        var cmd = new Command("model", "Parameter count and tensors (names and PyTorch shapes) of a model configuration.") { length, json };
        options.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var config = options.Read(r, r.GetValue(length));
            var layout = ParameterLayout.For(config);
            if (r.GetValue(json))
            {
                output.Out.WriteLine(Json.Serialize(new
                {
                    model = config.Model,
                    config,
                    @params = layout.Count,
                    tensors = layout.Tensors.Select(t => new { name = t.Name, shape = t.Shape }),
                }));
                return 0;
            }
            output.Out.WriteLine($"{config}: {layout.Count:N0} parameters");
            foreach (var t in layout.Tensors) output.Out.WriteLine($"  {t.Name,-32} {t.ShapeText,-12} {t.Count,12:N0}");
            return 0;
        });
        return cmd;
    }

    public static Command Eval(CliOutput output)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "model.safetensors written by train", Required = true };
        var split = new Option<string>("--split") { Description = "indist, sparse, dense, medium, online, a registered set (data import-hf: hf-val, hf-val_dense, hf-val_sparse, ...), or a text/Parquet file of flip-flop strings", DefaultValueFactory = _ => "sparse" };
        var count = new Option<int?>("--count") { Description = "sequences of a named split (default: its paper size)" }.AtLeast(0);
        var length = new Option<int>("--length") { Description = "sequence length of a named split", DefaultValueFactory = _ => 512 }.FlipFlopLength();
        var batch = new Option<int?>("--batch") { Description = "sequences per forward pass" }.AtLeast(1);
        var backend = new Option<string>("--backend") { Description = "cpu, cuda, emulator or auto", DefaultValueFactory = _ => Backend.Cpu };
        var json = new Option<bool>("--json") { Description = "print one JSON object" };
        var temperature = new Option<string>("--attention-temperature")
        {
            Description = "divide every attention logit by T at inference (1: as trained; towards 0: hard attention)", DefaultValueFactory = _ => "1",
        };
        var temperatureLayers = TemperatureOptions.Layers();
        var matmul = MatmulPrecisionOption.Create();
        var cmd = new Command("eval", "Read errors of a checkpoint on a named evaluation set or a data file.")
        {
            checkpoint, split, count, length, batch, backend, json, temperature, temperatureLayers, matmul,
        };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(checkpoint)!;
            if (!File.Exists(path)) throw new CliException($"{path}: no such checkpoint");
            float t = TemperatureOptions.Parse(r.GetValue(temperature)!, "--attention-temperature");
            string splitName = r.GetValue(split)!;
            var data = DataSources.Resolve(splitName, r.GetValue(count), r.GetValue(length), "--split");
            using var b = Backends.Open(r.GetValue(backend)!, output);
            using var model = LoadModel(path, b.Ops, MatmulPrecisionOption.Resolve(r.GetValue(matmul)!, b.Name));
            if (data.Length > model.Config.MaxSequenceLength)
                throw new CliException($"{splitName}: sequences of length {data.Length} exceed the model's max_length {model.Config.MaxLength}");
            var layers = TemperatureOptions.ReadLayers(r.GetValue(temperatureLayers), t, model.Config, "--attention-temperature");
            var pass = t == 1f && layers == null ? PassOptions.Evaluation : PassOptions.AtTemperature(t, layers);
            using var evaluator = new Evaluator<float>(model, r.GetValue(batch) ?? Evaluator<float>.DefaultBatch(model.Config), data.Length, pass);
            var progress = new ProgressLine(output, $"eval {splitName}");
            var clock = Stopwatch.StartNew();
            var counter = evaluator.Evaluate(splitName, data, progress: (done, total) => progress.Update($"{done}/{total} sequences", done, total, clock.Elapsed));
            progress.Done();
            var report = counter.Report();
            if (r.GetValue(json))
            {
                output.Out.WriteLine(Json.Serialize(new
                {
                    checkpoint = path, split = splitName, attention_temperature = t, temperature_layers = layers, sequences = report.Sequences, reads = report.Reads, errors = report.Errors,
                    sequences_with_errors = report.SequencesWithErrors, error_rate = report.ErrorRate, seconds = clock.Elapsed.TotalSeconds,
                    errors_by_dependency = counter.ByDependency.Where(kv => kv.Value.Errors > 0)
                        .Select(kv => new { dependency = kv.Key, reads = kv.Value.Reads, errors = kv.Value.Errors }),
                    by_dependency = counter.Buckets,
                    glitches = counter.Glitches,
                }));
                return 0;
            }
            if (t != 1f) output.Out.WriteLine($"attention temperature {t.ToString(CultureInfo.InvariantCulture)} in layers {(layers == null ? "all" : string.Join(",", layers))}");
            output.Out.WriteLine($"{splitName}: {report.Sequences} sequences, {report.Reads} reads, {report.Errors} errors " +
                                 $"(rate {report.ErrorRate:E3}), {report.SequencesWithErrors} sequences with an error, {clock.Elapsed.TotalSeconds:0.0} s");
            return 0;
        });
        return cmd;
    }

    public static Command Grads(CliOutput output)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "model safetensors (with its config metadata)", Required = true };
        var data = new Option<string>("--data") { Description = "text or Parquet file: the batch of flip-flop strings", Required = true };
        var mode = new Option<string>("--mode") { Description = "clean (reads only) or generative (every next token)", DefaultValueFactory = _ => "clean" };
        var precision = new Option<string>("--precision") { Description = "float (the training precision; F32 output) or double (F64 output)", DefaultValueFactory = _ => "float" };
        var outFile = new Option<string>("--out") { Description = "output safetensors: `loss` [1] and each parameter's gradient under its name", Required = true };
        var backend = new Option<string>("--backend") { Description = "cpu, cuda or emulator (double precision: cpu only)", DefaultValueFactory = _ => Backend.Cpu };
        var matmul = MatmulPrecisionOption.Create();
        var cmd = new Command("grads", "Loss and gradient of every parameter on a batch, written as safetensors.") { checkpoint, data, mode, precision, outFile, backend, matmul };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(checkpoint)!, dataPath = r.GetValue(data)!;
            if (!File.Exists(path)) throw new CliException($"{path}: no such checkpoint");
            if (!File.Exists(dataPath)) throw new CliException($"{dataPath}: no such data file");
            var lossMode = CliParse.Enum<LossMode>(r.GetValue(mode)!, "--mode");
            var batch = FlipFlopFiles.Read(dataPath);
            GradientDump.Result result;
            bool asDouble;
            switch (r.GetValue(precision))
            {
                case "float":
                    using (var b = Backends.Open(r.GetValue(backend)!, output))
                    using (var model = LoadModel(path, b.Ops, MatmulPrecisionOption.Resolve(r.GetValue(matmul)!, b.Name))) result = GradientDump.Compute(model, batch, lossMode);
                    asDouble = false;
                    break;
                case "double":
                    if (r.GetValue(backend) != Backend.Cpu) throw new CliException("--precision double runs on the CPU engine only (the kernels are float32)");
                    if (r.GetValue(matmul) is not ("auto" or "fp32")) throw new CliException("--matmul-precision: double precision multiplies in double (fp32 or auto only)");
                    using (var device = new CpuDevice())
                    using (var model = LoadModel(path, new CpuOps<double>(device))) result = GradientDump.Compute(model, batch, lossMode);
                    asDouble = true;
                    break;
                default: throw new CliException($"--precision must be float or double, got \"{r.GetValue(precision)}\"");
            }
            GradientDump.Write(r.GetValue(outFile)!, result, asDouble);
            output.Out.WriteLine($"loss {result.Loss:R} over {result.ScoredPositions} scored positions of {batch.Count} sequences; " +
                                 $"{result.Gradients.Count} gradients written to {r.GetValue(outFile)}");
            return 0;
        });
        return cmd;
    }

    internal static ModelBase<T> LoadModel<T>(string path, IOps<T> ops, MatmulPrecision precision = MatmulPrecision.Fp32)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        try { return Checkpoint.LoadModel(path, ops, precision); }
        catch (SafeTensorsException e) { throw new CliException(e.Message); }
    }
}

/// <summary>A progress line on stderr: redrawn in place on a terminal, a line every few seconds otherwise.</summary>
public sealed class ProgressLine(CliOutput output, string label)
{
    readonly Stopwatch _sinceLast = Stopwatch.StartNew();
    bool _drawn;

    public void Update(string text, long done, long total, TimeSpan elapsed, bool force = false)
    {
        var eta = done == 0 ? TimeSpan.Zero : elapsed / done * (total - done);
        string line = $"{label}: {text}  elapsed {Format(elapsed)}  ETA {Format(eta)}";
        if (output.Interactive)
        {
            if (!force && _sinceLast.ElapsedMilliseconds < 100 && done != total) return;
            output.Err.Write("\r" + line + "\u001b[K"); // carriage return, then clear the rest of the line
            _drawn = true;
        }
        else
        {
            if (!force && _sinceLast.ElapsedMilliseconds < 5000 && done != total) return;
            output.Err.WriteLine(line);
        }
        _sinceLast.Restart();
    }

    public void Done()
    {
        if (_drawn) output.Err.WriteLine();
        _drawn = false;
    }

    public static string Format(TimeSpan t) => t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes:00}:{t.Seconds:00}";
}
