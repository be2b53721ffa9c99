using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Experiments.Cli.Hostile;

public sealed partial class HostileInputTests
{
    /// <summary>`export` and `import` against missing and damaged files, formats and encodings that do not fit, outputs in the way.</summary>
    static IEnumerable<HostileCase> ExportCases()
    {
        static string Transformer(Workspace w, string name, ModelConfig config)
        {
            using var device = new CpuDevice();
            using var model = ModelFactory.Create(config, new CpuOps<float>(device));
            model.Initialize(1);
            Checkpoint.Save(model, w[name]);
            return w[name];
        }
        // the tiny Transformer (L1 d8 H2 T16) exported under x-transformers names, with the tensors changed by `change`
        static string Exported(Workspace w, Func<List<SafeTensor>, List<SafeTensor>>? change = null, bool metadata = true)
        {
            var loaded = Checkpoint.Load(w.Checkpoint("src.safetensors", transformer: true));
            File.Delete(w["src.safetensors"]);
            var tensors = StateDicts.Export(loaded, StateDictFormat.XTransformers).ToList();
            if (change != null) tensors = change(tensors);
            var meta = metadata
                ? Checkpoint.Metadata(loaded.Config, new Dictionary<string, string> { [StateDicts.FormatKey] = "x-transformers" })
                : null;
            SafeTensors.Write(w["xt.safetensors"], tensors, meta);
            return w["xt.safetensors"];
        }
        static string[] Import(string file, params string[] extra) =>
            ["import", "--checkpoint", file, "--format", "x-transformers", .. extra, "--out", Path.Combine(Path.GetDirectoryName(file)!, "o.safetensors")];

        yield return new("export: no such checkpoint", Invalid, "nope.safetensors", w => ["export", "--checkpoint", w["nope.safetensors"], "--format", "pytorch", "--out", w["o.safetensors"]]);
        yield return new("export: damaged checkpoint", Invalid, "bad.safetensors", w => ["export", "--checkpoint", w.Text("bad.safetensors", "not a safetensors file at all"), "--format", "pytorch", "--out", w["o.safetensors"]]);
        yield return new("export: unknown --format", Invalid, "--format", w => ["export", "--checkpoint", w.Checkpoint(), "--format", "onnx", "--out", w["o.safetensors"]]);
        yield return new("export: --format missing", Invalid, "--format", w => ["export", "--checkpoint", w.Checkpoint(), "--out", w["o.safetensors"]]);
        yield return new("export: linear to x-transformers", Invalid, "position encoding linear", w =>
            ["export", "--checkpoint", Transformer(w, "lin.safetensors", ModelConfig.Transformer(1, 8, 2, 16, PositionEncoding.Linear)), "--format", "x-transformers", "--out", w["o.safetensors"]]);
        yield return new("export: rope-full to x-transformers", Invalid, "position encoding rope-full", w =>
            ["export", "--checkpoint", Transformer(w, "rf.safetensors", ModelConfig.Transformer(1, 8, 2, 16, PositionEncoding.RopeFull)), "--format", "x-transformers", "--out", w["o.safetensors"]]);
        yield return new("export: LSTM to x-transformers", Invalid, "--format x-transformers", w => ["export", "--checkpoint", w.Checkpoint(), "--format", "x-transformers", "--out", w["o.safetensors"]]);
        yield return new("export: --out under a file", Failure, "ok.txt", w => ["export", "--checkpoint", w.Checkpoint(), "--format", "pytorch", "--out", Path.Combine(w.FlipFlopText(), "o.safetensors")]);
        yield return new("export: --out is a directory", Failure, "outdir", w => ["export", "--checkpoint", w.Checkpoint(), "--format", "pytorch", "--out", w.Directory("outdir")]);

        yield return new("import: no such file", Invalid, "nope.safetensors", w => Import(w["nope.safetensors"]));
        yield return new("import: damaged file", Invalid, "bad.safetensors", w => Import(w.Text("bad.safetensors", "garbage garbage garbage")));
        yield return new("import: unknown --format", Invalid, "--format", w => ["import", "--checkpoint", Exported(w), "--format", "jax", "--out", w["o.safetensors"]]);
        yield return new("import: missing tensor", Invalid, "to_logits.bias", w => Import(Exported(w, t => [.. t.Where(x => x.Name != "to_logits.bias")])));
        yield return new("import: extra tensor", Invalid, "attn_layers.layers.9.1.to_q.weight", w =>
            Import(Exported(w, t => [.. t, SafeTensor.FromFloats("attn_layers.layers.9.1.to_q.weight", [8, 8], new float[64])])));
        yield return new("import: misshaped tensor", Invalid, "attn_layers.layers.1.1.ff.3.weight", w =>
            Import(Exported(w, t => [.. t.Select(x => x.Name == "attn_layers.layers.1.1.ff.3.weight" ? SafeTensor.FromFloats(x.Name, [32, 8], new float[256]) : x)])));
        yield return new("import: integer tensor", Invalid, "token_emb.emb.weight", w =>
            Import(Exported(w, t => [.. t.Select(x => x.Name == "token_emb.emb.weight" ? x with { Type = SafeTensorType.I32 } : x)])));
        yield return new("import: foreign file without the model options", Invalid, "--model", w => Import(Exported(w, metadata: false)));
        yield return new("import: model options that disagree with the metadata", Invalid, "--model", w =>
            Import(Exported(w), "--model", "transformer", "--layers", "2", "--dim", "8", "--heads", "2"));
        yield return new("import: exported in another --format", Invalid, "--format", w =>
            ["import", "--checkpoint", Exported(w), "--format", "pytorch", "--out", w["o.safetensors"]]);
        yield return new("import: linear model options in --format x-transformers", Invalid, "position encoding linear", w =>
            Import(Exported(w, metadata: false), "--model", "transformer", "--layers", "1", "--dim", "8", "--heads", "2", "--pos", "linear"));
        yield return new("import: bad model option", Invalid, "--heads", w =>
            Import(Exported(w, metadata: false), "--model", "transformer", "--layers", "1", "--dim", "8", "--heads", "3"));
        yield return new("import: --out under a file", Failure, "ok.txt", w =>
            ["import", "--checkpoint", Exported(w), "--format", "x-transformers", "--out", Path.Combine(w.FlipFlopText(), "o.safetensors")]);
    }
}
