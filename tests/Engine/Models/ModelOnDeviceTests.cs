using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;
using RawFlipFlop.Kernels.Random;

using RawFlipFlop.Tests.Kernels;
using RawFlipFlop.Tests.Kernels.Gpu;

using RawFlipFlop.Tests.Kernels.Cpu;

namespace RawFlipFlop.Tests.Engine.Models;

/// <summary>
/// Whole models through the kernels against the CPU engine: gradients of tiny Transformers (every position
/// encoding) and a tiny LSTM, five training steps, bit-reproducibility. Both engines run in float32 but sum in
/// different orders, so whole-model gradients are compared with atol = 1e-4 x the tensor's largest gradient and
/// rtol = 1e-3 (single ops meet 1e-5: OpComparisons); losses to 1e-5 relative.
/// </summary>
public abstract class ModelOnDevice
{
    protected abstract IKernelDevice? Device(out string reason);

    IKernelDevice Open()
    {
        var device = Device(out string reason);
        if (device == null) Assert.Skip(reason);
        return device;
    }

    static FlipFlopDataset Batch(int b, int t) =>
        new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.5)).SampleMany(21, RandomDomain.Dataset, 0, b, t);

    static GradientDump.Result Grads(ModelConfig config, IOps<float> ops, FlipFlopDataset data, LossMode mode)
    {
        using var model = ModelFactory.Create(config, ops);
        model.Initialize(17);
        return GradientDump.Compute(model, data, mode);
    }

    public static TheoryData<string> Configs => new()
    {
        "learned", "sinusoidal", "rope", "alibi", "none", "linear", "rope-partial", "alibi-noabs", "rope-full", "sinusoidal-fixed", "linear-add", "lstm",
    };

    static ModelConfig Config(string name) => name switch
    {
        "lstm" => ModelConfig.Lstm(8, 12),
        // d_h = 34: rope turns 32 dims of q, k and v and passes 2 through
        "rope-partial" => ModelConfig.Transformer(layers: 1, dim: 68, heads: 2, maxLength: 16, pos: PositionEncoding.Rope),
        "alibi-noabs" => ModelConfig.Transformer(layers: 2, dim: 16, heads: 2, maxLength: 16, pos: PositionEncoding.Alibi, useAbsPosEmb: false),
        _ => ModelConfig.Transformer(layers: 2, dim: 16, heads: 2, maxLength: 16, pos: RawFlipFlop.Engine.IO.EnumText<PositionEncoding>.Parse(name, "pos")),
    };

    [Theory]
    [MemberData(nameof(Configs))]
    public void Gradients_match_the_cpu_engine(string name)
    {
        var device = Open();
        var config = Config(name);
        var data = Batch(3, 16);
        foreach (var mode in new[] { LossMode.Clean, LossMode.Generative })
        {
            using var cpuDevice = new CpuDevice();
            var expected = Grads(config, new CpuOps<float>(cpuDevice), data, mode);
            using var ops = new GpuOps(device);
            var actual = Grads(config, ops, data, mode);
            Assert.Equal(expected.Loss, actual.Loss, tolerance: 1e-5 * expected.Loss);
            for (int i = 0; i < expected.Gradients.Count; i++)
            {
                var (spec, want) = expected.Gradients[i];
                double scale = want.Max(Math.Abs);
                GradCheck.AssertClose(want, actual.Gradients[i].Gradient, 1e-4 * scale + 1e-9, 1e-3, $"{config} {mode} {spec.Name}");
            }
        }
    }

    static TrainOptions Options(string name) => new()
    {
        Model = Config(name), Length = 16, Batch = 4, Steps = 5, LearningRate = 1e-2, Warmup = 1, EvalEvery = 0,
        DropoutAttention = name == "learned" ? 0.1f : 0f, DropoutFeedForward = name == "learned" ? 0.1f : 0f,
        Sharpen = name == "learned" ? 0.05 : 0,
    };

    static (List<double> Losses, float[] Weights) Train(TrainOptions options, IOps<float> ops)
    {
        using var model = ModelFactory.Create(options.Model, ops);
        model.Initialize(options.Seed);
        using var run = new TrainingRun<float>(options, model);
        run.Run(cancel: TestContext.Current.CancellationToken);
        return (run.Losses, ops.Device.ToArray(model.Parameters));
    }

    [Theory]
    [InlineData("learned")]   // with attention and feed-forward dropout and sharpening
    [InlineData("rope")]
    [InlineData("sinusoidal")] // its scale is a parameter AdamW moves
    [InlineData("linear")]
    [InlineData("lstm")]
    public void Five_training_steps_give_the_cpu_engines_losses_and_are_bit_reproducible(string name)
    {
        var device = Open();
        var options = Options(name);
        using var cpuDevice = new CpuDevice();
        var (cpuLosses, cpuWeights) = Train(options, new CpuOps<float>(cpuDevice));
        using var ops = new GpuOps(device);
        var (losses, weights) = Train(options, ops);
        var (again, weightsAgain) = Train(options, ops);
        for (int i = 0; i < 5; i++) Assert.Equal(cpuLosses[i], losses[i], tolerance: 1e-5 * cpuLosses[i]);
        Assert.Equal(losses, again);
        Assert.Equal(weights, weightsAgain);
        double scale = cpuWeights.Max(v => Math.Abs(v));
        GradCheck.AssertClose(cpuWeights.Select(v => (double)v).ToArray(), weights.Select(v => (double)v).ToArray(), 1e-4 * scale, 1e-3, $"{name} weights after 5 steps");
    }

    [Fact]
    public void Checkpoints_move_between_backends_and_attention_maps_agree()
    {
        var device = Open();
        using var dir = new TempDir();
        var config = Config("alibi");
        using var ops = new GpuOps(device);
        using var cpuDevice = new CpuDevice();
        var data = Batch(2, 16);
        var tokens = data.Tokens.Select(x => (int)x).ToArray();
        float[] logitsGpu, probsGpu;
        using (var gpuModel = (TransformerModel<float>)ModelFactory.Create(config, ops))
        {
            gpuModel.Initialize(5);
            Checkpoint.Save(gpuModel, dir.File("m.safetensors"));
            var tb = device.AllocateFrom<int>(tokens);
            logitsGpu = device.ToArray(gpuModel.Forward(tb, 2, 16, PassOptions.Evaluation));
            probsGpu = device.ToArray(gpuModel.AttentionProbabilities(1));
            device.Free(tb);
        }
        using var cpuModel = (TransformerModel<float>)Checkpoint.LoadModel(dir.File("m.safetensors"), new CpuOps<float>(cpuDevice));
        var logitsCpu = cpuDevice.ToArray(cpuModel.Forward(cpuDevice.AllocateFrom<int>(tokens), 2, 16, PassOptions.Evaluation));
        var probsCpu = cpuDevice.ToArray(cpuModel.AttentionProbabilities(1));
        KernelAssert.Close(logitsCpu, logitsGpu, "logits of one checkpoint on the CPU and through the kernels");
        KernelAssert.Close(probsCpu, probsGpu, "attention probabilities of layer 1");
    }
}

[Trait("Category", "Emulator")]
public sealed class EmulatorModelTests : ModelOnDevice
{
    protected override IKernelDevice? Device(out string reason)
    {
        Toolchain.RequireCompiler();
        reason = "";
        return new EmulatedDevice(new EmulatorOptions());
    }
}

[Trait("Category", "Gpu")]
[Collection(GpuCollection.Name)]
public sealed class GpuModelTests : ModelOnDevice
{
    protected override IKernelDevice? Device(out string reason) => GpuFixture.Device(out reason);
}
