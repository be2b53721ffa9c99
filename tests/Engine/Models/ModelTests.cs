using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

using RawFlipFlop.Tests.Kernels.Cpu;

namespace RawFlipFlop.Tests.Engine.Models;

[Trait("Category", "Cpu")]
public sealed class ModelTests
{
    [Fact]
    public void ParameterCountsAreThePapers()
    {
        Assert.Equal(19_170_309, ParameterLayout.For(ModelConfig.Transformer()).Count);
        Assert.Equal(133_381, ParameterLayout.For(ModelConfig.Lstm()).Count);
        // without the learned table the baseline loses T*d parameters
        Assert.Equal(19_170_309 - 512 * 512, ParameterLayout.For(ModelConfig.Transformer(pos: PositionEncoding.Rope)).Count);
        // x-transformers keeps the learned table under ALiBi unless use_abs_pos_emb=False
        Assert.Equal(19_170_309, ParameterLayout.For(ModelConfig.Transformer(pos: PositionEncoding.Alibi)).Count);
        Assert.Equal(19_170_309 - 512 * 512, ParameterLayout.For(ModelConfig.Transformer(pos: PositionEncoding.Alibi, useAbsPosEmb: false)).Count);
        // the scaled sinusoidal embedding has one learned scalar
        Assert.Equal(19_170_309 - 512 * 512 + 1, ParameterLayout.For(ModelConfig.Transformer(pos: PositionEncoding.Sinusoidal)).Count);
        Assert.Equal(19_170_309 - 512 * 512, ParameterLayout.For(ModelConfig.Transformer(pos: PositionEncoding.SinusoidalFixed)).Count);
        // [e_t, t/C]: the token embedding is d-1 wide
        Assert.Equal(19_170_309 - 512 * 512 - 5, ParameterLayout.For(ModelConfig.Transformer(pos: PositionEncoding.Linear)).Count);
        Assert.Equal(19_170_309 - 512 * 512, ParameterLayout.For(ModelConfig.Transformer(pos: PositionEncoding.LinearAdd)).Count);
    }

    [Theory]
    [InlineData(512, 8, PositionEncoding.Rope, 32)]      // the paper's d_h = 64: max(32, 32)
    [InlineData(1024, 8, PositionEncoding.Rope, 64)]     // d_h = 128: half of it
    [InlineData(16, 2, PositionEncoding.Rope, 8)]        // d_h = 8 < 32: all of it (x-transformers would ask for 32)
    [InlineData(35, 1, PositionEncoding.Rope, 32)]       // an odd head dimension is fine when 32 dims turn
    [InlineData(512, 8, PositionEncoding.RopeFull, 64)]
    public void RopeRotatesMaxOfHalfTheHeadAnd32Dims(int dim, int heads, PositionEncoding pos, int rotary)
    {
        var config = ModelConfig.Transformer(layers: 1, dim: dim, heads: heads, pos: pos).Validate();
        Assert.Equal(rotary, config.RotaryDim);
    }

    [Theory]
    [InlineData(132, 2, PositionEncoding.Rope, "rotates 33 dims")] // d_h = 66: d_h/2 = 33 is odd
    [InlineData(10, 2, PositionEncoding.RopeFull, "rotates 5 dims")]
    [InlineData(9, 3, PositionEncoding.Rope, "rotates 3 dims")]
    public void RopeNeedsAnEvenRotaryDimension(int dim, int heads, PositionEncoding pos, string message) =>
        Assert.Contains(message, Assert.Throws<InvalidOptionException>(() => ModelConfig.Transformer(layers: 1, dim: dim, heads: heads, pos: pos).Validate()).Message);

    [Fact]
    public void TheAbsoluteEmbeddingSwitchIsForAlibiOnly()
    {
        var e = Assert.Throws<InvalidOptionException>(() => (ModelConfig.Transformer(layers: 1, dim: 8, heads: 2) with { UseAbsPosEmb = false }).Validate());
        Assert.Equal("use_abs_pos_emb", e.Field);
        Assert.Equal(16, ModelConfig.Transformer(layers: 1, dim: 8, heads: 2, maxLength: 16, pos: PositionEncoding.Alibi).MaxSequenceLength);
        Assert.Equal(int.MaxValue, ModelConfig.Transformer(layers: 1, dim: 8, heads: 2, maxLength: 16, pos: PositionEncoding.Alibi, useAbsPosEmb: false).MaxSequenceLength);
    }

    [Fact]
    public void PositionTensorsAreNamedAsXTransformers()
    {
        var sinusoidal = TransformerParameters.Declare(ModelConfig.Transformer(layers: 1, dim: 16, heads: 2, maxLength: 32, pos: PositionEncoding.Sinusoidal));
        // declared last: every other tensor keeps its offset and its initialisation stream
        Assert.Equal(("pos_emb.scale", "[1]"), Spec(sinusoidal.Layout, sinusoidal.Entries.PositionScale!));
        Assert.Equal("pos_emb.scale", sinusoidal.Layout.Tensors[^1].Name);
        var fixedOne = ParameterLayout.For(ModelConfig.Transformer(layers: 1, dim: 16, heads: 2, maxLength: 32, pos: PositionEncoding.SinusoidalFixed));
        Assert.Equal(fixedOne.Tensors.Select(t => (t.Name, t.Offset)), sinusoidal.Layout.Tensors.SkipLast(1).Select(t => (t.Name, t.Offset)));
        var linear = TransformerParameters.Declare(ModelConfig.Transformer(layers: 1, dim: 16, heads: 2, maxLength: 32, pos: PositionEncoding.Linear));
        Assert.Equal(("tok_emb.weight", "[5,15]"), Spec(linear.Layout, linear.Entries.TokenEmbedding));
        Assert.Null(linear.Entries.PositionEmbedding);
        var alibi = TransformerParameters.Declare(ModelConfig.Transformer(layers: 1, dim: 16, heads: 2, maxLength: 32, pos: PositionEncoding.Alibi));
        Assert.Equal(("pos_emb.weight", "[32,16]"), Spec(alibi.Layout, alibi.Entries.PositionEmbedding!));
    }

    [Fact]
    public void TheSinusoidalScaleStartsAtTheInverseSquareRootOfTheWidth()
    {
        using var device = new CpuDevice();
        var config = ModelConfig.Transformer(layers: 1, dim: 64, heads: 2, maxLength: 16, pos: PositionEncoding.Sinusoidal);
        using var model = ModelFactory.Create(config, new CpuOps<double>(device));
        model.Initialize(1);
        var scale = TransformerParameters.Declare(config).Entries.PositionScale!;
        Assert.Equal(0.125, device.ToArray(model.Parameters.Slice(scale))[0]);
    }

    [Fact]
    public void LayoutNamesAndShapesAreTheCheckpoints()
    {
        var (layout, p) = TransformerParameters.Declare(ModelConfig.Transformer(layers: 2, dim: 16, heads: 2, maxLength: 32));
        Assert.Equal(["tok_emb.weight", "pos_emb.weight", "layers.0.attn_norm.weight"], layout.Tensors.Take(3).Select(t => t.Name));
        Assert.Equal(("layers.1.ff.w1.weight", "[64,16]"), Spec(layout, p.Layers[1].W1));
        Assert.Equal(("layers.1.ff.w2.weight", "[16,64]"), Spec(layout, p.Layers[1].W2));
        Assert.Equal(("pos_emb.weight", "[32,16]"), Spec(layout, p.PositionEmbedding!));
        Assert.Equal(["head.weight", "head.bias"], layout.Tensors.TakeLast(2).Select(t => t.Name));
        // wq, wk, wv are adjacent so they form one (3d, d) matrix
        var qkv = layout.Tensors.Where(t => t.Name.StartsWith("layers.0.attn.w", StringComparison.Ordinal)).Take(3).ToArray();
        Assert.Equal(["layers.0.attn.wq.weight", "layers.0.attn.wk.weight", "layers.0.attn.wv.weight"], qkv.Select(t => t.Name));
        Assert.Equal([qkv[0].Offset, qkv[0].Offset + 256, qkv[0].Offset + 512], qkv.Select(t => t.Offset));
        var wqkv = p.Layers[0].Wqkv;
        Assert.Equal((qkv[0].Offset, 768L), (wqkv.Offset, wqkv.Count));
        Assert.Equal([48L, 16], wqkv.Shape);
        var lstm = ParameterLayout.For(ModelConfig.Lstm());
        Assert.Equal(["emb.weight", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0", "head.weight", "head.bias"],
            lstm.Tensors.Select(t => t.Name));
    }

    /// <summary>The checkpoint name and shape of the tensor a typed entry stands for.</summary>
    static (string Name, string Shape) Spec(ParameterLayout layout, LayoutEntry entry)
    {
        var spec = Assert.Single(layout.Tensors, t => t.Offset == entry.Offset && t.Count == entry.Count);
        Assert.Equal(spec.Name, entry.Name);
        return (spec.Name, spec.ShapeText);
    }

    [Fact]
    public void TypedEntriesTileTheirLayouts()
    {
        // every slot of a typed record is visited by Map, and together they cover the layout once, in order
        static void AssertTiles(IEnumerable<LayoutEntry> entries, long count)
        {
            long offset = 0;
            foreach (var entry in entries.OrderBy(e => e.Offset))
            {
                Assert.Equal(offset, entry.Offset);
                offset = entry.End;
            }
            Assert.Equal(count, offset);
        }
        static List<LayoutEntry> Slots(Func<Func<LayoutEntry, int>, object> map)
        {
            var slots = new List<LayoutEntry>();
            map(entry => { slots.Add(entry); return 0; });
            return slots;
        }
        foreach (var pos in Enum.GetValues<PositionEncoding>())
        {
            var config = ModelConfig.Transformer(layers: 3, dim: 8, heads: 2, maxLength: 16, pos: pos);
            var (layout, parameters) = TransformerParameters.Declare(config);
            AssertTiles(Slots(f => parameters.Map(f)), layout.Count);
            Assert.Equal(ParameterLayout.For(config).Tensors.Select(t => (t.Name, t.Offset)), layout.Tensors.Select(t => (t.Name, t.Offset)));
            var (activationLayout, activations) = TransformerActivations.Declare(config, 2, 5, 2 * 2 * 5 * 5);
            var slots = Slots(f => activations.Map(f));
            AssertTiles(slots, activationLayout.Count);
            Assert.Equal(activationLayout.Entries, slots.OrderBy(e => e.Offset));
        }
        var lstm = ModelConfig.Lstm(4, 6);
        var (lstmLayout, lstmParameters) = LstmParameters.Declare(lstm);
        AssertTiles(Slots(f => lstmParameters.Map(f)), lstmLayout.Count);
        var (lstmActivationLayout, lstmActivations) = LstmActivations.Declare(lstm, 3, 7);
        var lstmSlots = Slots(f => lstmActivations.Map(f));
        AssertTiles(lstmSlots, lstmActivationLayout.Count);
        Assert.Equal(lstmActivationLayout.Entries, lstmSlots);
    }

    [Fact]
    public void DeclaringTheWrongKindOfModelIsRefused()
    {
        Assert.Contains("not a transformer configuration", Assert.Throws<ArgumentException>(() => TransformerParameters.Declare(ModelConfig.Lstm())).Message);
        Assert.Contains("not an LSTM configuration", Assert.Throws<ArgumentException>(() => LstmParameters.Declare(ModelConfig.Transformer())).Message);
    }

    [Fact]
    public void InitialisationFollowsPyTorchDefaults()
    {
        using var device = new CpuDevice();
        var config = ModelConfig.Transformer(layers: 1, dim: 64, heads: 2, maxLength: 64);
        using var model = ModelFactory.Create(config, new CpuOps<double>(device));
        model.Initialize(1);
        var p = TransformerParameters.Declare(config).Entries;
        double[] Values(LayoutEntry entry) => device.ToArray(model.Parameters.Slice(entry));
        static double Std(double[] v) { double m = v.Average(); return Math.Sqrt(v.Sum(x => (x - m) * (x - m)) / v.Length); }
        Assert.InRange(Std(Values(p.PositionEmbedding!)), 0.97, 1.03);                                  // N(0, 1)
        Assert.InRange(Std(Values(p.TokenEmbedding)), Math.Sqrt(2.0 / 64) * 0.8, Math.Sqrt(2.0 / 64) * 1.2); // kaiming normal
        var w1 = Values(p.Layers[0].W1);
        Assert.True(w1.Max() <= 1 / 8.0 && w1.Min() >= -1 / 8.0 && w1.Max() > 0.12);                  // U(-1/sqrt(64), 1/sqrt(64))
        Assert.All(Values(p.Layers[0].AttnNormWeight), v => Assert.Equal(1.0, v));
        Assert.All(Values(p.FinalNormBias), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void FloatAndDoublePathsAgree()
    {
        foreach (var config in new[] { ModelConfig.Transformer(layers: 2, dim: 16, heads: 2, maxLength: 16, pos: PositionEncoding.Rope), ModelConfig.Lstm(8, 8) })
        {
            using var device = new CpuDevice();
            using var md = ModelFactory.Create(config, new CpuOps<double>(device));
            using var mf = ModelFactory.Create(config, new CpuOps<float>(device));
            md.Initialize(7);
            mf.Initialize(7);
            var (tokens, targets, scored) = ModelGradientTests.Batch(3, 16, LossMode.Clean);
            double lossD = ModelGradientTests.LossAndGradient(md, tokens, targets, scored, 3, 16, PassOptions.Evaluation, true);
            var tb = device.AllocateFrom<int>(tokens); var gb = device.AllocateFrom<int>(targets);
            var losses = device.Allocate<float>(48); var dl = device.Allocate<float>(48 * 5);
            var logits = mf.Forward(tb, 3, 16, PassOptions.Evaluation);
            mf.Ops.CrossEntropyForwardBackward(losses, dl, logits, gb, 1f / scored, 48, 5);
            mf.ZeroGradients();
            mf.Backward(dl, PassOptions.Evaluation);
            double lossF = device.ToArray(losses).Sum(v => (double)v) / scored;
            Assert.Equal(lossD, lossF, tolerance: 2e-6);
            var gd = device.ToArray(md.Gradients);
            var gf = device.ToArray(mf.Gradients).Select(v => (double)v).ToArray();
            double scale = gd.Max(Math.Abs);
            GradCheck.AssertClose(gd, gf, 1e-5 * scale, 1e-3, $"{config} float vs double gradients");
        }
    }

    [Fact]
    public void CheckpointRoundTripIsExactAndValidated()
    {
        using var dir = new TempDir();
        using var device = new CpuDevice();
        var config = ModelConfig.Transformer(layers: 1, dim: 8, heads: 2, maxLength: 8, pos: PositionEncoding.Linear);
        using var model = ModelFactory.Create(config, new CpuOps<float>(device));
        model.Initialize(11);
        string path = dir.File("m.safetensors");
        Checkpoint.Save(model, path);
        using var loaded = Checkpoint.LoadModel(path, new CpuOps<float>(device));
        Assert.Equal(config, loaded.Config);
        Assert.Equal(device.ToArray(model.Parameters), device.ToArray(loaded.Parameters));

        // a checkpoint whose tensor shape does not match its config is rejected with the name and both shapes
        var contents = SafeTensors.Read(path);
        var broken = contents.Tensors.Select(t => t.Name == "head.weight" ? t with { Shape = [8, 5] } : t);
        SafeTensors.Write(dir.File("bad.safetensors"), broken, contents.Metadata);
        var e = Assert.Throws<SafeTensorsException>(() => Checkpoint.Load(dir.File("bad.safetensors")));
        Assert.Contains("head.weight has shape [8,5], the configuration needs [5,8]", e.Message);
        Assert.Contains("bad.safetensors", e.Message);
        SafeTensors.Write(dir.File("missing.safetensors"), contents.Tensors.Where(t => t.Name != "final_norm.bias"), contents.Metadata);
        Assert.Contains("missing tensor final_norm.bias [8]", Assert.Throws<SafeTensorsException>(() => Checkpoint.Load(dir.File("missing.safetensors"))).Message);
        SafeTensors.Write(dir.File("noconfig.safetensors"), contents.Tensors);
        Assert.Contains("not a RawFlipFlop checkpoint", Assert.Throws<SafeTensorsException>(() => Checkpoint.Load(dir.File("noconfig.safetensors"))).Message);
        File.WriteAllBytes(dir.File("truncated.safetensors"), File.ReadAllBytes(path)[..100]);
        Assert.Throws<SafeTensorsException>(() => Checkpoint.Load(dir.File("truncated.safetensors")));
    }
}

[Trait("Category", "Cpu")]
public sealed class TimedOpsTests
{
    [Fact]
    public void TimedOpsForwardsEveryOpAndCountsCalls()
    {
        using var device = new CpuDevice();
        var config = ModelConfig.Transformer(layers: 2, dim: 8, heads: 2, maxLength: 16);
        var timed = new TimedOps<double>(new CpuOps<double>(device));
        using var plain = ModelFactory.Create(config, new CpuOps<double>(device));
        using var wrapped = ModelFactory.Create(config, timed);
        plain.Initialize(2); wrapped.Initialize(2);
        var (tokens, targets, scored) = ModelGradientTests.Batch(2, 16, LossMode.Clean);
        double a = ModelGradientTests.LossAndGradient(plain, tokens, targets, scored, 2, 16, PassOptions.Evaluation, true);
        double b = ModelGradientTests.LossAndGradient(wrapped, tokens, targets, scored, 2, 16, PassOptions.Evaluation, true);
        Assert.Equal(a, b);
        Assert.Equal(device.ToArray(plain.Gradients), device.ToArray(wrapped.Gradients));
        var report = timed.Report().ToDictionary(r => r.Op);
        Assert.Equal(2, report["AttentionForward"].Calls);
        Assert.Equal(2, report["AttentionBackward"].Calls);
        Assert.Equal(5, report["LayerNormForward"].Calls); // 2 per layer + the final norm
        Assert.Equal(1, report["CrossEntropyForwardBackward"].Calls);
    }
}
