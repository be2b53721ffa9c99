using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;

using RawFlipFlop.Tests.Kernels.Cpu;

namespace RawFlipFlop.Tests.Engine.Models;

/// <summary>Whole-model gradients against finite differences in double precision, for every parameter of tiny models.</summary>
[Trait("Category", "Cpu")]
public sealed class ModelGradientTests
{
    /// <summary>Tiny flip-flop batch (B,T) as ints, with targets for the mode.</summary>
    internal static (int[] Tokens, int[] Targets, int Scored) Batch(int b, int t, LossMode mode, ulong seed = 5)
    {
        var data = new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.5)).SampleMany(seed, RandomDomain.Dataset, 0, b, t);
        var targets = new int[b * t];
        int scored = LossTargets.Build(data.Tokens, b, t, mode, targets);
        return (data.Tokens.Select(x => (int)x).ToArray(), targets, scored);
    }

    /// <summary>Loss = mean CE over scored positions + regularizer; gradient accumulated into the model's Gradients.</summary>
    internal static double LossAndGradient(ModelBase<double> model, int[] tokens, int[] targets, int scored, int b, int t, PassOptions pass, bool backward)
    {
        var device = model.Ops.Device;
        var tb = device.AllocateFrom<int>(tokens);
        var gb = device.AllocateFrom<int>(targets);
        var losses = device.Allocate<double>(b * t);
        var dlogits = device.Allocate<double>(b * t * model.Config.VocabSize);
        try
        {
            var logits = model.Forward(tb, b, t, pass);
            model.Ops.CrossEntropyForwardBackward(losses, dlogits, logits, gb, 1.0 / scored, b * t, model.Config.VocabSize);
            double loss = device.ToArray(losses).Sum() / scored + model.RegularizerLoss;
            if (backward) { model.ZeroGradients(); model.Backward(dlogits, pass); }
            return loss;
        }
        finally { device.Free(tb); device.Free(gb); device.Free(losses); device.Free(dlogits); }
    }

    static void CheckAllParameters(ModelConfig config, LossMode mode, PassOptions pass, double bound = 1e-6, int b = 2, int t = 8)
    {
        using var device = new CpuDevice();
        var ops = new CpuOps<double>(device);
        using var model = ModelFactory.Create(config, ops);
        model.Initialize(3);
        var (tokens, targets, scored) = Batch(b, t, mode);
        LossAndGradient(model, tokens, targets, scored, b, t, pass, backward: true);
        var analytic = device.ToArray(model.Gradients);
        var parameters = model.Parameters.Span;
        foreach (var spec in model.Layout.Tensors)
        {
            var x = parameters.Slice((int)spec.Offset, (int)spec.Count);
            var error = GradCheck.RelativeError(x, () => LossAndGradient(model, tokens, targets, scored, b, t, pass, backward: false),
                analytic.AsSpan((int)spec.Offset, (int)spec.Count));
            Assert.True(error < bound, $"{config}: {spec.Name} relative error {error:E2}");
        }
    }

    [Theory]
    [InlineData(PositionEncoding.Learned)]
    [InlineData(PositionEncoding.Sinusoidal)]
    [InlineData(PositionEncoding.Rope)]
    [InlineData(PositionEncoding.Alibi)]
    [InlineData(PositionEncoding.None)]
    [InlineData(PositionEncoding.Linear)]
    [InlineData(PositionEncoding.RopeFull)]
    [InlineData(PositionEncoding.SinusoidalFixed)]
    [InlineData(PositionEncoding.LinearAdd)]
    public void TinyTransformer(PositionEncoding pos) =>
        CheckAllParameters(ModelConfig.Transformer(layers: 2, dim: 8, heads: 2, maxLength: 8, pos: pos), LossMode.Clean, PassOptions.Evaluation);

    [Fact]
    public void TinyTransformerAlibiWithoutTheAbsoluteEmbedding() =>
        CheckAllParameters(ModelConfig.Transformer(layers: 2, dim: 8, heads: 2, maxLength: 8, pos: PositionEncoding.Alibi, useAbsPosEmb: false),
            LossMode.Clean, PassOptions.Evaluation);

    [Fact]
    public void RopeRotatingPartOfAHead()
    {
        // d_h = 34: rope rotates min(max(17, 32), 34) = 32 dims of q, k and v, and 2 pass through
        var config = ModelConfig.Transformer(layers: 1, dim: 34, heads: 1, maxLength: 8, pos: PositionEncoding.Rope);
        Assert.Equal(32, config.RotaryDim);
        CheckAllParameters(config, LossMode.Clean, PassOptions.Evaluation);
    }

    [Fact]
    public void TinyTransformerGenerativeMode() =>
        CheckAllParameters(ModelConfig.Transformer(layers: 1, dim: 8, heads: 2, maxLength: 8), LossMode.Generative, PassOptions.Evaluation);

    [Fact]
    public void TinyTransformerWithSharpeningOnOneLayer() =>
        CheckAllParameters(ModelConfig.Transformer(layers: 2, dim: 8, heads: 2, maxLength: 8), LossMode.Clean,
            new PassOptions { Sharpen = 0.5, SharpenLayers = [0] });

    [Fact]
    public void TinyTransformerWithDropoutEverywhere() =>
        // the masks are a pure function of (seed, step, site), so the loss is a fixed differentiable function
        CheckAllParameters(ModelConfig.Transformer(layers: 2, dim: 8, heads: 2, maxLength: 8), LossMode.Clean,
            new PassOptions { DropoutEmbedding = 0.2f, DropoutAttention = 0.3f, DropoutFeedForward = 0.25f, DropoutSeed = 9, Step = 4 });

    [Fact]
    public void TinyLstm() => CheckAllParameters(ModelConfig.Lstm(embedDim: 4, hidden: 5), LossMode.Clean, PassOptions.Evaluation);

    [Fact]
    public void TinyLstmGenerativeMode() => CheckAllParameters(ModelConfig.Lstm(embedDim: 3, hidden: 4), LossMode.Generative, PassOptions.Evaluation);
}
