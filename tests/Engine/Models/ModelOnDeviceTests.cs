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

    static (List<double> Losses, float[] Weights) Train(TrainOptions options, IOps<float> ops, MatmulPrecision precision = MatmulPrecision.Fp32)
    {
        using var model = ModelFactory.Create(options.Model, ops, precision);
        model.Initialize(options.Seed);
        using var run = new TrainingRun<float>(options, model);
        run.Run(cancel: TestContext.Current.CancellationToken);
        return (run.Losses, ops.Device.ToArray(model.Parameters));
    }

    /// <summary>
    /// How far a loss may be from the CPU engine's, relative: 1e-5 in FP32 and 3xTF32 (two FP32 engines summing in
    /// different orders); in TF32 the operands of every product are rounded to 11 significant bits (u = 2^-11), and an
    /// operand that differs in its last FP32 bit between the engines can round to the neighbouring TF32 value, so
    /// 2u (about 1e-3) against the CPU engine in TF32 and 4u (about 2e-3) against its FP32 curve.
    /// </summary>
    static double LossTolerance(MatmulPrecision precision, bool againstFp32) =>
        precision == MatmulPrecision.Tf32 ? (againstFp32 ? 4.0 : 2.0) / 2048 : 1e-5;

    [Theory]
    [InlineData("learned", MatmulPrecision.Fp32)]   // with attention and feed-forward dropout and sharpening
    [InlineData("rope", MatmulPrecision.Fp32)]
    [InlineData("sinusoidal", MatmulPrecision.Fp32)] // its scale is a parameter AdamW moves
    [InlineData("linear", MatmulPrecision.Fp32)]
    [InlineData("lstm", MatmulPrecision.Fp32)]
    [InlineData("learned", MatmulPrecision.Tf32x3)]
    [InlineData("lstm", MatmulPrecision.Tf32x3)]
    [InlineData("learned", MatmulPrecision.Tf32)]
    [InlineData("lstm", MatmulPrecision.Tf32)]
    public void Five_training_steps_give_the_cpu_engines_losses_and_are_bit_reproducible(string name, MatmulPrecision precision)
    {
        var device = Open();
        var options = Options(name);
        using var cpuDevice = new CpuDevice();
        var (cpuLosses, cpuWeights) = Train(options, new CpuOps<float>(cpuDevice), precision);
        using var ops = new GpuOps(device);
        var (losses, weights) = Train(options, ops, precision);
        var (again, weightsAgain) = Train(options, ops, precision);
        double tolerance = LossTolerance(precision, againstFp32: false);
        for (int i = 0; i < 5; i++) Assert.Equal(cpuLosses[i], losses[i], tolerance: tolerance * cpuLosses[i]);
        Assert.Equal(losses, again);
        Assert.Equal(weights, weightsAgain);
        double scale = cpuWeights.Max(v => Math.Abs(v));
        GradCheck.AssertClose(cpuWeights.Select(v => (double)v).ToArray(), weights.Select(v => (double)v).ToArray(), 1e-4 * scale, 1e-3,
            $"{name} {precision} weights after 5 steps");
    }

    sealed record Outcome(List<double> Losses, List<double> Regularizer, List<OnlineEvaluation> Online, float[] Weights, float[] Moments,
        int Step, int? DivergedAt, int OptimizerSteps, StepGraph Graph);

    static Outcome Train(TrainOptions options, GpuOps ops, StepExecution execution)
    {
        using var model = ModelFactory.Create(options.Model, ops);
        model.Initialize(options.Seed);
        using var run = new TrainingRun<float>(options, model, execution);
        run.Run(cancel: TestContext.Current.CancellationToken);
        return new Outcome(run.Losses, run.Regularizer, run.Online, ops.Device.ToArray(model.Parameters),
            [.. ops.Device.ToArray(run.Optimizer.M), .. ops.Device.ToArray(run.Optimizer.V)], run.Step, run.DivergedAt, run.Optimizer.Steps, run.Graph);
    }

    /// <summary>
    /// Steps as device graphs with the losses read every 7 steps against one step at a time, each launched directly and
    /// read at once: the same losses, sharpening terms, online evaluations and weights, bit for bit. "learned" has
    /// dropout everywhere (fresh streams every step: rewritten arguments) and sharpening switched on at step 6 (new
    /// kernels: a second capture); online evaluations at 5 and 10 run between graph launches; the LSTM's recurrence
    /// is a cooperative launch.
    /// </summary>
    [Theory]
    [InlineData("learned")]
    [InlineData("alibi")]
    [InlineData("lstm")]
    public void Graph_steps_with_deferred_loss_reads_give_the_bits_of_direct_steps(string name)
    {
        var device = Open();
        var options = Options(name) with { Steps = 12, EvalEvery = 5, EvalCount = 8, SharpenFrom = name == "learned" ? 6 : 0 };
        using var ops = new GpuOps(device);
        var direct = Train(options, ops, new StepExecution(1, false));
        var graphs = Train(options, ops, new StepExecution(7, true));
        Assert.Equal(12, direct.Losses.Count);
        Assert.Equal(direct.Losses, graphs.Losses);
        Assert.Equal(direct.Regularizer, graphs.Regularizer);
        Assert.Equal(direct.Online, graphs.Online);
        Assert.Equal(direct.Weights, graphs.Weights);
        Assert.Equal(direct.Moments, graphs.Moments);
        Assert.Equal([5, 10, 12], graphs.Online.Select(o => o.Step));
        if (name == "learned") Assert.Equal(Enumerable.Range(1, 12).Select(s => s >= 6), direct.Regularizer.Select(r => r != 0));

        var graph = graphs.Graph;
        TestContext.Current.SendDiagnosticMessage($"{name}: {graph.Captures} captures, {graph.Launches} graph launches of {graph.GraphSize} operations, " +
            $"{graph.DirectRuns} direct, {graph.UpdatedNodes} nodes rewritten; last recapture: {graph.LastRecapture}");
        Assert.Null(graph.DirectReason);
        Assert.Equal(12, graph.Launches + graph.DirectRuns);
        Assert.True(graph.Launches >= 10, $"{graph.Launches} graph launches");
        Assert.Equal(name == "learned" ? 2 : 1, graph.Captures);
        Assert.True(graph.UpdatedNodes >= graph.Launches - graph.Captures, "every update rewrites at least AdamW's step");
        Assert.Equal(0, direct.Graph.Launches);
    }

    /// <summary>
    /// A learning rate of 1e38 makes the loss infinite or NaN within a few steps. Read every 8 steps, the run must end
    /// where the step-at-a-time run ends, with its state: the device skipped the diverged update and every one queued
    /// after it (the divergence flag), and the host rolls its step count back.
    /// </summary>
    [Theory]
    [InlineData("learned")]
    [InlineData("lstm")]
    public void A_diverging_run_stops_at_the_same_step_and_state_when_losses_are_read_late(string name)
    {
        var device = Open();
        var options = Options(name) with { Steps = 12, LearningRate = 1e38, Warmup = 0 };
        using var ops = new GpuOps(device);
        var direct = Train(options, ops, new StepExecution(1, false));
        var late = Train(options, ops, new StepExecution(8, true));
        Assert.NotNull(direct.DivergedAt);
        Assert.True(direct.DivergedAt < 8, $"diverged at {direct.DivergedAt}: the late reader should have queued steps past it");
        Assert.Equal(direct.DivergedAt, late.DivergedAt);
        Assert.Equal((direct.DivergedAt - 1, direct.DivergedAt - 1), (late.Step, late.OptimizerSteps));
        Assert.Equal(direct.Losses, late.Losses);
        Assert.False(double.IsFinite(late.Losses[^1]));
        Assert.Equal(direct.Weights, late.Weights);
        Assert.Equal(direct.Moments, late.Moments);
    }

    /// <summary>
    /// 30 steps of a small Transformer (2 layers, d = 32: tile kernels for QKV, Wo, W1, W2 and the narrow ones for the
    /// head; B*T = 512 rows, so weight gradients split into slices) in each matmul precision, against the CPU engine's
    /// FP32 loss curve and against the CPU engine in the same precision (its TF32 twins).
    /// </summary>
    [Theory]
    [InlineData(MatmulPrecision.Fp32)]
    [InlineData(MatmulPrecision.Tf32x3)]
    [InlineData(MatmulPrecision.Tf32)]
    public void Thirty_training_steps_stay_near_the_cpu_loss_curve_in_each_precision(MatmulPrecision precision)
    {
        var device = Open();
        var options = new TrainOptions
        {
            Model = ModelConfig.Transformer(layers: 2, dim: 32, heads: 2, maxLength: 32), Length = 32, Batch = 4, Steps = 30,
            LearningRate = 3e-3, Warmup = 5, EvalEvery = 0,
        };
        using var cpuDevice = new CpuDevice();
        var (fp32, _) = Train(options, new CpuOps<float>(cpuDevice));
        var (twin, _) = precision == MatmulPrecision.Fp32 ? (fp32, null!) : Train(options, new CpuOps<float>(cpuDevice), precision);
        using var ops = new GpuOps(device);
        var (losses, _) = Train(options, ops, precision);
        double fromFp32 = losses.Zip(fp32).Max(p => Math.Abs(p.First - p.Second) / p.Second);
        double fromTwin = losses.Zip(twin).Max(p => Math.Abs(p.First - p.Second) / p.Second);
        TestContext.Current.SendDiagnosticMessage($"{precision}: 30 steps, loss {fp32[0]:0.0000} -> {fp32[^1]:0.0000}; largest relative difference " +
            $"from the CPU's FP32 curve {fromFp32:G3}, from the CPU in {precision} {fromTwin:G3}");
        Assert.True(fromFp32 <= LossTolerance(precision, againstFp32: true), $"{precision}: {fromFp32:G3} from the CPU's FP32 loss curve");
        Assert.True(fromTwin <= LossTolerance(precision, againstFp32: false), $"{precision}: {fromTwin:G3} from the CPU's loss curve in {precision}");
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
