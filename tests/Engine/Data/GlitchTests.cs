using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Tests.Engine.Data;

[Trait("Category", "Cpu")]
public sealed class GlitchTests
{
    [Fact]
    public void Errors_with_logits_become_glitch_records_with_the_models_probability()
    {
        var text = "w1i0r1w0r0r0";
        var tokens = new byte[text.Length];
        FlipFlopText.FromText(text, tokens);
        // reads at 4 (bit 1, dependency 4), 8 (0, dependency 2), 10 (0, dependency 4); the read at 10 is wrong
        var flags = new int[12];
        flags[10] = 1;
        var logits = new float[12 * 5];
        logits[10 * 5 + Tokens.Zero] = 1f;   // right bit
        logits[10 * 5 + Tokens.One] = 3f;    // predicted
        var counter = new ReadErrorCounter("unit");
        counter.AddErrorFlags(tokens, flags, 12, firstSequence: 7, logits, 5);
        var g = Assert.Single(counter.Glitches);
        Assert.Equal((7L, 10, 4, (int)Tokens.One), (g.Sequence, g.Position, g.Dependency, g.Predicted));
        double expected = Math.Exp(1) / (Math.Exp(1) + Math.Exp(3) + 3 * Math.Exp(0));
        Assert.Equal(expected, g.PCorrect, 12);
        Assert.Equal([new DependencyBucket(2, 3, 1, 0), new DependencyBucket(4, 7, 2, 1)], counter.Buckets);
    }

    [Fact]
    public void Buckets_are_powers_of_two_and_keep_every_read()
    {
        var byLength = new Dictionary<int, (long, long)> { [0] = (1, 0), [1] = (2, 1), [2] = (3, 0), [3] = (4, 2), [8] = (5, 5), [15] = (1, 0), [16] = (2, 2) };
        var buckets = DependencyBucket.Of(byLength);
        Assert.Equal([new DependencyBucket(0, 1, 3, 1), new DependencyBucket(2, 3, 7, 2), new DependencyBucket(8, 15, 6, 5), new DependencyBucket(16, 31, 2, 2)],
            buckets);
        Assert.Equal(byLength.Values.Sum(v => v.Item1), buckets.Sum(b => b.Reads));
    }

    [Fact]
    public void Records_stop_at_the_limit_while_errors_are_still_counted()
    {
        var data = EvaluationSets.Dense.Generate(40, 64);
        var flags = new int[data.Tokens.Length];
        for (int i = 0; i < flags.Length; i++) flags[i] = data.Tokens[i] == Tokens.Read ? 1 : 0; // every read wrong
        var logits = new float[data.Tokens.Length * 5];
        var counter = new ReadErrorCounter("dense");
        counter.AddErrorFlags(data.Tokens, flags, 64, 0, logits, 5);
        Assert.True(counter.Errors > Glitch.MaxRecords);
        Assert.Equal(Glitch.MaxRecords, counter.Glitches.Count);
        Assert.All(counter.Glitches, g => Assert.Equal(0.2, g.PCorrect, 12)); // uniform logits
    }
}
