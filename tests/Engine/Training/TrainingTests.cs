using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Engine.Training;

[Trait("Category", "Cpu")]
public sealed class TrainingTests
{
    static TrainingRun<float> Run(CpuDevice device, TrainOptions options)
    {
        var model = ModelFactory.Create(options.Model, new CpuOps<float>(device));
        model.Initialize(options.Seed);
        return new TrainingRun<float>(options, model);
    }

    [Fact]
    public void SmallLstmLearnsShortFlipFlopToZeroReadErrors()
    {
        using var device = new CpuDevice();
        var options = new TrainOptions
        {
            Model = ModelConfig.Lstm(32, 32), Length = 64, Steps = 300, LearningRate = 1e-2, Warmup = 10,
            EvalEvery = 100, EvalCount = 200, Seed = 3, DataSeed = 4,
        };
        using var run = Run(device, options);
        run.Run(cancel: TestContext.Current.CancellationToken);
        Assert.True(run.Losses[^1] < 0.02, $"final loss {run.Losses[^1]}");
        Assert.True(run.Losses[0] > 1.0);
        using var evaluator = new Evaluator<float>(run.Model, 64, 64);
        foreach (var set in new[] { RawFlipFlop.Engine.Data.EvaluationSets.Sparse, RawFlipFlop.Engine.Data.EvaluationSets.Dense })
        {
            var counter = evaluator.Evaluate(set.Name, set.Generate(1000, 64));
            Assert.True(counter.Reads > 1000);
            Assert.Equal(0, counter.Errors);
        }
        Assert.Equal(0, run.Best!.Errors);
        run.Model.Dispose();
    }

    /// <summary>
    /// Losses read back every 5 steps record what reading every step records: the same curve, sharpening terms, online
    /// evaluations (at 4, 8, 11: each forces a read) and weights; progress comes once per step, in order.
    /// </summary>
    [Fact]
    public void Reading_losses_every_few_steps_changes_nothing_that_is_recorded()
    {
        var options = new TrainOptions
        {
            Model = ModelConfig.Transformer(layers: 1, dim: 16, heads: 2, maxLength: 32), Length = 32, Steps = 11, Batch = 4,
            LearningRate = 1e-2, Warmup = 2, EvalEvery = 4, EvalCount = 16, Sharpen = 0.01, SharpenFrom = 3, DropoutAttention = 0.1f,
        };
        using var device = new CpuDevice();
        var ct = TestContext.Current.CancellationToken;
        var model = ModelFactory.Create(options.Model, new CpuOps<float>(device));
        model.Initialize(options.Seed);
        using var everyStep = new TrainingRun<float>(options, model);
        Assert.Equal(new StepExecution(1, false), everyStep.Execution);
        everyStep.Run(cancel: ct);
        var late = ModelFactory.Create(options.Model, new CpuOps<float>(device));
        late.Initialize(options.Seed);
        using var everyFive = new TrainingRun<float>(options, late, new StepExecution(5, false));
        var reported = new List<int>();
        everyFive.Run(p => reported.Add(p.Step), cancel: ct);
        Assert.Equal(Enumerable.Range(1, 11), reported);
        Assert.Equal(everyStep.Losses, everyFive.Losses);
        Assert.Equal(everyStep.Regularizer, everyFive.Regularizer);
        Assert.Equal(everyStep.Online, everyFive.Online);
        Assert.Equal([4, 8, 11], everyFive.Online.Select(o => o.Step));
        Assert.Equal(device.ToArray(everyStep.Model.Parameters), device.ToArray(everyFive.Model.Parameters));
        Assert.Equal(everyStep.Graph.DirectRuns, everyFive.Graph.DirectRuns);
        Assert.Equal("device graphs are off", everyFive.Graph.DirectReason);
        var e = Assert.Throws<InvalidOptionException>(() => new TrainingRun<float>(options, late, new StepExecution(0, false)));
        Assert.Contains("loss_read_interval", e.Message);
    }

    [Fact]
    public void SameSeedsGiveBitIdenticalLossesAndWeights()
    {
        var options = new TrainOptions
        {
            Model = ModelConfig.Transformer(layers: 2, dim: 16, heads: 2, maxLength: 32, pos: PositionEncoding.Rope), Length = 32, Steps = 6,
            Batch = 4, LearningRate = 1e-2, Warmup = 2, EvalEvery = 0, DropoutAttention = 0.1f, DropoutFeedForward = 0.1f, DropoutEmbedding = 0.1f,
            Sharpen = 0.01,
        };
        using var device = new CpuDevice();
        using var a = Run(device, options);
        using var b = Run(device, options);
        using var c = Run(device, options with { DataSeed = 2 });
        var ct = TestContext.Current.CancellationToken; a.Run(cancel: ct); b.Run(cancel: ct); c.Run(cancel: ct);
        Assert.Equal(a.Losses, b.Losses);
        Assert.Equal(a.Regularizer, b.Regularizer);
        Assert.Equal(device.ToArray(a.Model.Parameters), device.ToArray(b.Model.Parameters));
        Assert.NotEqual(a.Losses, c.Losses);
        Assert.Equal(6, a.Regularizer.Count);
        Assert.All(a.Regularizer, r => Assert.True(r > 0));
        a.Model.Dispose(); b.Model.Dispose(); c.Model.Dispose();
    }

    [Fact]
    public void SharpenFromSwitchesTheRegulariserOnAtItsStep()
    {
        // --sharpen-from 3: steps 1 and 2 (steps count from 1) train exactly as without sharpening, step 3 on with it
        // (Figure 12's third curve)
        var plain = new TrainOptions
        {
            Model = ModelConfig.Transformer(layers: 1, dim: 16, heads: 1, maxLength: 32), Length = 32, Steps = 6,
            Batch = 4, LearningRate = 1e-2, Warmup = 2, EvalEvery = 0,
        };
        using var device = new CpuDevice();
        using var without = Run(device, plain);
        using var late = Run(device, plain with { Sharpen = 0.1, SharpenFrom = 3 });
        using var always = Run(device, plain with { Sharpen = 0.1 });
        var ct = TestContext.Current.CancellationToken; without.Run(cancel: ct); late.Run(cancel: ct); always.Run(cancel: ct);
        Assert.Equal(without.Losses.Take(3), late.Losses.Take(3)); // the loss of step 3 is computed before its update
        Assert.NotEqual(without.Losses[3], late.Losses[3]);
        Assert.Equal([0, 0], late.Regularizer.Take(2));
        Assert.All(late.Regularizer.Skip(2), r => Assert.True(r > 0));
        Assert.All(always.Regularizer, r => Assert.True(r > 0));
        without.Model.Dispose(); late.Model.Dispose(); always.Model.Dispose();
    }

    [Fact]
    public void TinyTransformerLossFallsOnEveryPositionEncoding()
    {
        using var device = new CpuDevice();
        foreach (PositionEncoding pos in Enum.GetValues<PositionEncoding>())
        {
            var options = new TrainOptions
            {
                Model = ModelConfig.Transformer(layers: 1, dim: 16, heads: 2, maxLength: 32, pos: pos), Length = 32, Steps = 40, Batch = 8,
                LearningRate = 1e-2, Warmup = 5, EvalEvery = 0, Mode = LossMode.Generative,
            };
            using var run = Run(device, options);
            run.Run(cancel: TestContext.Current.CancellationToken);
            Assert.True(run.Losses.TakeLast(5).Average() < run.Losses.Take(5).Average() * 0.8, $"{pos}: {run.Losses[0]} -> {run.Losses[^1]}");
            run.Model.Dispose();
        }
    }

    [Fact]
    public void OptionsAreValidated()
    {
        var lstm = ModelConfig.Lstm(8, 8);
        Assert.Contains("apply to the transformer only", Assert.Throws<InvalidOptionException>(() => new TrainOptions { Model = lstm, DropoutAttention = 0.1f }.Validate()).Message);
        Assert.Contains("exceeds the model's max_length", Assert.Throws<InvalidOptionException>(() =>
            new TrainOptions { Model = ModelConfig.Transformer(1, 8, 2, 16), Length = 32 }.Validate()).Message);
        Assert.Equal("sharpen_layers", Assert.Throws<InvalidOptionException>(() =>
            new TrainOptions { Model = ModelConfig.Transformer(2, 8, 2, 512), SharpenLayers = [3], Sharpen = 1 }.Validate()).Field);
        foreach (var (field, bad) in new (string, TrainOptions)[]
        {
            ("learning_rate", new TrainOptions { Model = lstm, LearningRate = double.NaN }),
            ("learning_rate", new TrainOptions { Model = lstm, LearningRate = 0 }),
            ("weight_decay", new TrainOptions { Model = lstm, WeightDecay = double.PositiveInfinity }),
            ("batch", new TrainOptions { Model = lstm, Batch = 0 }),
            ("eval_batch", new TrainOptions { Model = lstm, EvalBatch = 0 }),
            ("adam_epsilon", new TrainOptions { Model = lstm, AdamEpsilon = 0 }),
            ("adam_beta2", new TrainOptions { Model = lstm, AdamBeta2 = 1 }),
            ("decay_steps", new TrainOptions { Model = lstm, DecaySteps = 0 }),
            ("length", new TrainOptions { Model = lstm, Length = 7 }),
            ("offline", new TrainOptions { Model = lstm, Offline = [new("sparse", -1)] }),
        })
            Assert.Equal(field, Assert.Throws<InvalidOptionException>(() => bad.Validate()).Field);
        Assert.Contains("heads: 3 must divide dim (8)", Assert.Throws<InvalidOptionException>(() => ModelConfig.Transformer(1, 8, 3, 16).Validate()).Message);
    }
}
