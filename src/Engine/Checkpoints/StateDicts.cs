using System.Globalization;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Models;

namespace RawFlipFlop.Engine.Checkpoints;

/// <summary>The foreign state-dict layouts a checkpoint is exported to and imported from.</summary>
public enum StateDictFormat
{
    /// <summary>x-transformers 1.16.8's TransformerWrapper(Decoder(...)) parameter and buffer names (Transformers only).</summary>
    [JsonStringEnumMemberName("x-transformers")] XTransformers,
    /// <summary>A plain PyTorch state dict under the engine's own names (the LSTM's are nn.Embedding/nn.LSTM/nn.Linear's).</summary>
    [JsonStringEnumMemberName("pytorch")] PyTorch,
}

/// <summary>
/// Our checkpoints as PyTorch state dicts. For x-transformers 1.16.8 (the library the paper trained with) a Transformer's
/// tensors get the names of the module tree <c>TransformerWrapper(num_tokens, max_seq_len, attn_layers=Decoder(dim, depth,
/// heads, attn_dim_head, ...))</c> builds, so the file loads with <c>load_state_dict(strict=True)</c>:
/// <list type="bullet">
/// <item>token_emb.emb.weight; pos_emb.emb.weight (learned table, AbsolutePositionalEmbedding); pos_emb.scale
/// (ScaledSinusoidalEmbedding's learned scalar; its inv_freq buffer is not persistent);</item>
/// <item>block 2l (attention) and 2l+1 (feed-forward) of attn_layers.layers, each ModuleList([norms, block, residual])
/// with norms = ModuleList([pre_branch_norm, None, None]): attn_layers.layers.{i}.0.0.weight|bias is the pre-norm
/// LayerNorm; to_q, to_k, to_v, to_out (no bias) of Attention; ff.0.0 (project-in Linear, inside Sequential(Linear,
/// GELU)) and ff.3 (the output Linear: FeedForward.ff is Sequential(project_in, Identity, Dropout, Linear));</item>
/// <item>attn_layers.final_norm.weight|bias; to_logits.weight|bias;</item>
/// <item>attn_layers.rotary_pos_emb.inv_freq, a persistent buffer of RotaryEmbedding (rope only), written with the
/// values 10000^(-2i/rot); ALiBi's slopes are not persistent.</item>
/// </list>
/// The encodings x-transformers cannot express (linear, linear-add, rope-full, sinusoidal-fixed, and rope with d_h &lt; 32)
/// are refused for that format and exported under <see cref="StateDictFormat.PyTorch"/> only.
/// </summary>
public static class StateDicts
{
    /// <summary>Metadata keys of an exported file besides "config" and "format".</summary>
    public const string FormatKey = "rawflipflop_format", ConstructorKey = "constructor";

    /// <summary>Why a configuration cannot be written in a format, or null when it can.</summary>
    public static string? Unsupported(ModelConfig config, StateDictFormat format)
    {
        if (format == StateDictFormat.PyTorch) return null;
        if (config.IsLstm) return "x-transformers has no LSTM; use --format pytorch (its names are nn.Embedding/nn.LSTM/nn.Linear's)";
        string pos = EnumText<PositionEncoding>.Of(config.Position);
        return config.Position switch
        {
            PositionEncoding.Linear => $"position encoding {pos} (Appendix C.3's [e_t, t/C], a (V, d-1) token embedding plus a position coordinate) has no x-transformers 1.16.8 equivalent; use --format pytorch",
            PositionEncoding.LinearAdd or PositionEncoding.RopeFull or PositionEncoding.SinusoidalFixed =>
                $"position encoding {pos} (an earlier RawFlipFlop variant) has no x-transformers 1.16.8 equivalent; use --format pytorch",
            PositionEncoding.Rope when config.Dim / config.Heads < 32 =>
                $"position encoding {pos} with d_h = {config.Dim / config.Heads} < 32: x-transformers 1.16.8 rotates max(d_h/2, 32) = 32 dims, more than the head has (the engine caps it at d_h); use --format pytorch",
            _ => null,
        };
    }

    /// <summary>The foreign name of each of our tensors, in layout order.</summary>
    public static IReadOnlyList<(TensorSpec Spec, string Name)> Map(ModelConfig config, StateDictFormat format)
    {
        if (Unsupported(config, format) is { } why) throw new ArgumentException(why);
        var layout = ParameterLayout.For(config);
        return [.. layout.Tensors.Select(t => (t, format == StateDictFormat.PyTorch ? t.Name : XTransformersName(t.Name)))];
    }

    static readonly Regex LayerName = new(@"^layers\.(\d+)\.(.+)$", RegexOptions.CultureInvariant);

    static string XTransformersName(string ours)
    {
        switch (ours)
        {
            case "tok_emb.weight": return "token_emb.emb.weight";
            case "pos_emb.weight": return "pos_emb.emb.weight";
            case "pos_emb.scale": return "pos_emb.scale";
            case "final_norm.weight": return "attn_layers.final_norm.weight";
            case "final_norm.bias": return "attn_layers.final_norm.bias";
            case "head.weight": return "to_logits.weight";
            case "head.bias": return "to_logits.bias";
        }
        var m = LayerName.Match(ours);
        if (!m.Success) throw new InvalidOperationException($"no x-transformers name for tensor {ours}");
        int l = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        string attn = $"attn_layers.layers.{2 * l}.", ff = $"attn_layers.layers.{2 * l + 1}.";
        return m.Groups[2].Value switch
        {
            "attn_norm.weight" => attn + "0.0.weight",
            "attn_norm.bias" => attn + "0.0.bias",
            "attn.wq.weight" => attn + "1.to_q.weight",
            "attn.wk.weight" => attn + "1.to_k.weight",
            "attn.wv.weight" => attn + "1.to_v.weight",
            "attn.wo.weight" => attn + "1.to_out.weight",
            "ff_norm.weight" => ff + "0.0.weight",
            "ff_norm.bias" => ff + "0.0.bias",
            "ff.w1.weight" => ff + "1.ff.0.0.weight",
            "ff.w1.bias" => ff + "1.ff.0.0.bias",
            "ff.w2.weight" => ff + "1.ff.3.weight",
            "ff.w2.bias" => ff + "1.ff.3.bias",
            var rest => throw new InvalidOperationException($"no x-transformers name for tensor {ours} ({rest})"),
        };
    }

    /// <summary>The persistent buffers a format's module tree also holds (rope: RotaryEmbedding's inv_freq), with their values.</summary>
    public static IReadOnlyList<SafeTensor> Buffers(ModelConfig config, StateDictFormat format)
    {
        if (format != StateDictFormat.XTransformers || config.Position != PositionEncoding.Rope) return [];
        int rot = config.RotaryDim;
        var invFreq = new float[rot / 2];
        for (int i = 0; i < invFreq.Length; i++) invFreq[i] = (float)Math.Pow(10000.0, -2.0 * i / rot);
        return [SafeTensor.FromFloats("attn_layers.rotary_pos_emb.inv_freq", [rot / 2], invFreq)];
    }

    /// <summary>
    /// The Python that builds the module tree the file loads into: for x-transformers the TransformerWrapper constructor
    /// with the options that give the engine's semantics; for the LSTM its three modules; for a Transformer in our own
    /// names, a note that there is no library module tree (tests/pytorch/make_reference.py has the forward pass).
    /// </summary>
    public static string Constructor(ModelConfig config, StateDictFormat format)
    {
        if (config.IsLstm)
            return $"emb = nn.Embedding({config.VocabSize}, {config.EmbedDim}); lstm = nn.LSTM({config.EmbedDim}, {config.Hidden}, batch_first=True); head = nn.Linear({config.Hidden}, {config.VocabSize})";
        if (format == StateDictFormat.PyTorch)
            return $"# RawFlipFlop's own names ({config}); no library module tree: see tests/pytorch/make_reference.py (transformer_forward)";
        if (Unsupported(config, format) is { } why) throw new ArgumentException(why);
        var decoder = new List<string> { $"dim={config.Dim}", $"depth={config.Layers}", $"heads={config.Heads}", $"attn_dim_head={config.Dim / config.Heads}" };
        var wrapper = new List<string> { $"num_tokens={config.VocabSize}", $"max_seq_len={config.MaxLength}" };
        switch (config.Position)
        {
            case PositionEncoding.Sinusoidal: wrapper.Add("scaled_sinu_pos_emb=True"); break;
            case PositionEncoding.Rope: decoder.Add("rotary_pos_emb=True"); break;
            case PositionEncoding.Alibi:
                decoder.Add("alibi_pos_bias=True"); decoder.Add($"alibi_num_heads={config.Heads}");
                if (!config.HasLearnedPositions) wrapper.Add("use_abs_pos_emb=False");
                break;
            case PositionEncoding.None: wrapper.Add("use_abs_pos_emb=False"); break;
        }
        return $"TransformerWrapper({string.Join(", ", wrapper)}, attn_layers=Decoder({string.Join(", ", decoder)}))";
    }

    /// <summary>A loaded checkpoint's tensors (and buffers) under a format's names, F32, in layout order.</summary>
    public static IReadOnlyList<SafeTensor> Export(Checkpoint.Loaded loaded, StateDictFormat format)
    {
        var list = new List<SafeTensor>();
        foreach (var (spec, name) in Map(loaded.Config, format))
        {
            var floats = new float[spec.Count];
            for (int i = 0; i < floats.Length; i++) floats[i] = (float)loaded.Parameters[spec.Offset + i];
            list.Add(SafeTensor.FromFloats(name, spec.Shape, floats));
        }
        list.AddRange(Buffers(loaded.Config, format));
        return list;
    }

    /// <summary>
    /// The parameters (layout order) of a state dict in a format for a configuration: every expected tensor present with
    /// its shape and a float dtype, nothing else (a format's buffers may be present, with their shapes). Every problem names
    /// the file and the tensor.
    /// </summary>
    public static double[] Import(string path, SafeTensors.Contents contents, ModelConfig config, StateDictFormat format)
    {
        var map = Map(config, format);
        var buffers = Buffers(config, format).ToDictionary(b => b.Name);
        var expected = map.ToDictionary(m => m.Name, m => m.Spec);
        string fmt = EnumText<StateDictFormat>.Of(format);
        foreach (var t in contents.Tensors)
        {
            if (expected.ContainsKey(t.Name)) continue;
            if (buffers.TryGetValue(t.Name, out var buffer))
            {
                if (!t.Shape.SequenceEqual(buffer.Shape))
                    throw new SafeTensorsException(path, $"buffer {t.Name} has shape {t.ShapeText}, {config} needs {buffer.ShapeText}");
                continue;
            }
            throw new SafeTensorsException(path, $"unexpected tensor {Printable.Of(t.Name)} {t.ShapeText}: not part of {config} in --format {fmt}");
        }
        var values = new double[ParameterLayout.For(config).Count];
        foreach (var (spec, name) in map)
        {
            var t = contents.Find(name) ?? throw new SafeTensorsException(path, $"missing tensor {name} {spec.ShapeText} of {config} in --format {fmt}");
            if (!t.Shape.SequenceEqual(spec.Shape))
                throw new SafeTensorsException(path, $"tensor {name} has shape {t.ShapeText}, {config} needs {spec.ShapeText}");
            if (t.Type is not (SafeTensorType.F32 or SafeTensorType.F64))
                throw new SafeTensorsException(path, $"tensor {name} has dtype {t.Type}, expected F32 or F64");
            t.ToDoubles().CopyTo(values, spec.Offset);
        }
        return values;
    }
}
