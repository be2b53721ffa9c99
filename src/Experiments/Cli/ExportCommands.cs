using System.CommandLine;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Models;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>`export` and `import`: checkpoints as PyTorch state dicts (x-transformers 1.16.8 names, or our own) and back.</summary>
public static class ExportCommands
{
    static Option<string> FormatOption(string what) => new("--format")
    {
        Description = $"x-transformers (1.16.8's TransformerWrapper(Decoder(...)) names; Transformers only) or pytorch (our own names, the LSTM's are nn.Embedding/nn.LSTM/nn.Linear's) {what}",
        Required = true,
    };

    public static Command Export(CliOutput output)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "model safetensors written by train or import", Required = true };
        var format = FormatOption("for the output");
        var outFile = new Option<string>("--out") { Description = "output safetensors: the state dict, the model configuration in __metadata__", Required = true };
        var cmd = new Command("export", "Write a checkpoint as a PyTorch state dict (x-transformers 1.16.8 names, or our own) and print the Python that builds the module tree it loads into with strict=True.")
        {
            checkpoint, format, outFile,
        };
        cmd.SetAction(r =>
        {
            string path = r.GetValue(checkpoint)!, outPath = r.GetValue(outFile)!;
            var fmt = CliParse.Enum<StateDictFormat>(r.GetValue(format)!, "--format");
            if (!File.Exists(path)) throw new CliException($"{path}: no such checkpoint");
            var loaded = Checkpoint.Load(path);
            string fmtText = EnumText<StateDictFormat>.Of(fmt);
            if (StateDicts.Unsupported(loaded.Config, fmt) is { } why) throw new CliException($"--format {fmtText}: {why}");
            var tensors = StateDicts.Export(loaded, fmt);
            string constructor = StateDicts.Constructor(loaded.Config, fmt);
            var metadata = Checkpoint.Metadata(loaded.Config, new Dictionary<string, string>
            {
                [StateDicts.FormatKey] = fmtText,
                [StateDicts.ConstructorKey] = constructor,
            });
            Write(outPath, () => SafeTensors.Write(outPath, tensors, metadata));
            output.Out.WriteLine($"{loaded.Config}: {tensors.Count} tensors ({loaded.Parameters.Length:N0} parameters) written to {outPath} in --format {fmtText}");
            output.Out.WriteLine(constructor);
            return 0;
        });
        return cmd;
    }

    public static Command Import(CliOutput output)
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "a state dict as safetensors (from export, or from PyTorch)", Required = true };
        var format = FormatOption("of the input");
        var outFile = new Option<string>("--out") { Description = "output checkpoint (model.safetensors) for eval, inspect, grads, export", Required = true };
        var options = new ModelOptions();
        options.Model.Required = false;
        options.Model.Description = "lstm or transformer: the model options describe a file without RawFlipFlop's config metadata (if the file has it, they must agree)";
        var cmd = new Command("import", "Read a PyTorch state dict (x-transformers 1.16.8 names, or our own) into a checkpoint; every tensor is checked by name and shape.")
        {
            checkpoint, format, outFile,
        };
        options.AddTo(cmd);
        cmd.SetAction(r =>
        {
            string path = r.GetValue(checkpoint)!, outPath = r.GetValue(outFile)!;
            var fmt = CliParse.Enum<StateDictFormat>(r.GetValue(format)!, "--format");
            string fmtText = EnumText<StateDictFormat>.Of(fmt);
            if (!File.Exists(path)) throw new CliException($"{path}: no such state dict");
            var contents = SafeTensors.Read(path);
            if (contents.Metadata.TryGetValue(StateDicts.FormatKey, out var written) && written != fmtText)
                throw new CliException($"--format {fmtText}: {path} was exported in --format {Printable.Of(written, 40)}");
            ModelConfig? fromFile = contents.Metadata.ContainsKey(Checkpoint.ConfigKey) ? Checkpoint.ReadConfig(path, contents) : null;
            ModelConfig config;
            if (r.GetValue(options.Model) != null)
            {
                string table = fmt == StateDictFormat.XTransformers ? "pos_emb.emb.weight" : "pos_emb.weight";
                int length = contents.Find(table) is { Shape.Length: 2 } t ? t.Shape[0] : fromFile?.MaxLength is > 0 and var m ? m : 512;
                config = options.Read(r, length);
                if (fromFile != null && fromFile != config)
                    throw new CliException($"--model: the options describe {config}, but {path}'s metadata says {fromFile}; leave the model options out or make them agree");
            }
            else
            {
                config = fromFile ?? throw new CliException(
                    $"{path}: no RawFlipFlop configuration in its __metadata__; give the model options (--model, --layers, --dim, --heads, --pos, --max-length, ... or --embed-dim, --hidden)");
            }
            if (StateDicts.Unsupported(config, fmt) is { } why) throw new CliException($"--format {fmtText}: {why}");
            var values = StateDicts.Import(path, contents, config, fmt);
            var layout = ParameterLayout.For(config);
            Write(outPath, () => SafeTensors.Write(outPath, Checkpoint.Tensors<double>(layout, values), Checkpoint.Metadata(config)));
            output.Out.WriteLine($"{config}: {layout.Count:N0} parameters imported from {path} (--format {fmtText}) to {outPath}");
            return 0;
        });
        return cmd;
    }

    static void Write(string path, Action write)
    {
        try { write(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"{path}: cannot write: {e.Message}", ExitCodes.Failure);
        }
    }
}
