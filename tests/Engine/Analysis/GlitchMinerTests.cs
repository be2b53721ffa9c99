using RawFlipFlop.Engine.Analysis;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Engine.Analysis;

/// <summary>
/// A language model built to fail at one dependency length: at a read it prefers the right bit by a margin that grows
/// with the distance between the read's dependency and <paramref name="failAt"/>, and prefers the wrong bit at exactly
/// that dependency. Everywhere else it predicts nothing in particular.
/// </summary>
sealed class FailsAtOneDependency(int failAt) : IModel<float>
{
    readonly CpuDevice _device = new();
    Buf<float> _logits;

    public ModelConfig Config { get; } = ModelConfig.Transformer(1, 8, 1, 64);
    public ParameterLayout Layout => ParameterLayout.For(Config);
    public IOps<float> Ops => new CpuOps<float>(_device);
    public Buf<float> Parameters => default;
    public Buf<float> Gradients => default;
    public double RegularizerLoss => 0;
    public RegularizerReading<float> RegularizerReading => RegularizerReading<float>.None;

    public Buf<float> Forward(Buf<int> tokens, int b, int t, PassOptions options)
    {
        var host = _device.ToArray(tokens);
        var logits = new float[b * t * 5];
        for (int s = 0; s < b; s++)
        {
            int lastWrite = 0;
            for (int i = 0; i + 1 < t; i += 2)
            {
                int k = s * t + i;
                if (host[k] == Tokens.Write) lastWrite = i;
                if (host[k] != Tokens.Read) continue;
                // the bit after the last write is the right answer; the sequence's own bit after the read is that bit
                int right = host[k + 1], wrong = right == Tokens.One ? Tokens.Zero : Tokens.One;
                float margin = Math.Abs(i - lastWrite - failAt) / 2f - 0.5f;
                logits[k * 5 + right] = margin;
                logits[k * 5 + wrong] = 0;
                for (int v = 0; v < 3; v++) logits[k * 5 + v] = -10;
            }
        }
        if (!_logits.IsEmpty) _device.Free(_logits);
        _logits = _device.AllocateFrom<float>(logits);
        return _logits;
    }

    public void Backward(Buf<float> dlogits, PassOptions options) => throw new NotSupportedException();

    public void Dispose()
    {
        if (!_logits.IsEmpty) _device.Free(_logits);
        _device.Dispose();
    }
}

[Trait("Category", "Cpu")]
public sealed class GlitchMinerTests
{
    [Theory]
    [InlineData(MiningStrategy.Targeted)]
    [InlineData(MiningStrategy.Mutate)]
    public void The_miner_finds_the_one_dependency_length_a_model_fails_at(MiningStrategy strategy)
    {
        using var model = new FailsAtOneDependency(failAt: 22);
        var miner = new GlitchMiner(model, 64, 16);
        var result = miner.Mine(strategy, 1500, 7, FlipFlopDistribution.Sparse);
        Assert.NotEmpty(result.Glitches);
        Assert.All(result.Glitches, g =>
        {
            Assert.Equal(22, g.Dependency);
            Assert.True(g.Margin < 0);
            Assert.Equal(Tokens.Read, g.Tokens[g.Position]);
        });
        // every glitch is a valid flip-flop string (first w, last r, reads repeat the last write)
        var dataset = new FlipFlopDataset(result.Glitches.SelectMany(g => g.Tokens).ToArray(), result.Glitches.Count, 64);
        using var dir = new TempDir();
        FlipFlopFiles.Write(dir.File("g.txt"), dataset);
        Assert.Equal(dataset.Tokens, FlipFlopFiles.Read(dir.File("g.txt")).Tokens);
        var random = miner.RandomSearch(result.Evaluated, 7, FlipFlopDistribution.Sparse);
        Assert.True(result.PerHundredThousand > random.PerHundredThousand,
            $"{strategy}: {result.PerHundredThousand} per 10^5 against random's {random.PerHundredThousand}");
    }

    [Fact]
    public void A_search_repeats_exactly_from_its_seed()
    {
        using var model = new FailsAtOneDependency(failAt: 10);
        var a = new GlitchMiner(model, 64, 8).Mine(MiningStrategy.Mutate, 400, 3, FlipFlopDistribution.Sparse);
        var b = new GlitchMiner(model, 64, 8).Mine(MiningStrategy.Mutate, 400, 3, FlipFlopDistribution.Sparse);
        Assert.Equal(a.Glitches.Select(g => Convert.ToBase64String(g.Tokens)), b.Glitches.Select(g => Convert.ToBase64String(g.Tokens)));
    }
}
