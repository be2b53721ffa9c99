using RawFlipFlop.Engine.Data;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Engine.Data;

[Trait("Category", "Cpu")]
public class SamplerTests
{
    static FlipFlopDataset Sample(double pIgnore, int count, int length, ulong seed = 7, long first = 0) =>
        new FlipFlopSampler(FlipFlopDistribution.WithIgnore(pIgnore)).SampleMany(seed, RandomDomain.Dataset, first, count, length);

    [Theory]
    [InlineData(0.8, 4)]
    [InlineData(0.98, 512)]
    [InlineData(0.1, 62)]
    [InlineData(0.0, 10)]
    [InlineData(1.0, 100)]
    public void Every_sequence_is_valid_starts_with_w_and_ends_with_r(double pIgnore, int length)
    {
        var data = Sample(pIgnore, 500, length);
        for (int s = 0; s < data.Count; s++)
        {
            var seq = data.Sequence(s);
            Assert.Equal(Tokens.Write, seq[0]);
            Assert.Equal(Tokens.Read, seq[length - 2]);
            var tokens = new byte[length];
            var problems = new List<string>();
            Assert.True(FlipFlopValidator.Validate(data.SequenceText(s), tokens, (c, r) => problems.Add($"{c}: {r}")), string.Join("; ", problems));
            Assert.Equal(seq.ToArray(), tokens);
        }
    }

    [Theory]
    [InlineData(0.8)]
    [InlineData(0.98)]
    [InlineData(0.1)]
    public void Instruction_and_bit_frequencies_lie_within_five_standard_deviations(double pIgnore)
    {
        const int length = 512;
        var data = Sample(pIgnore, 2000, length, seed: 99);
        long n = 0, writes = 0, reads = 0, ones = 0, freeBits = 0;
        for (int s = 0; s < data.Count; s++)
        {
            var seq = data.Sequence(s);
            for (int t = 2; t < length - 2; t += 2) // the free instructions only
            {
                n++;
                if (seq[t] == Tokens.Write) writes++;
                if (seq[t] == Tokens.Read) reads++;
            }
            for (int t = 0; t < length; t += 2)
                if (seq[t] != Tokens.Read) { freeBits++; if (seq[t + 1] == Tokens.One) ones++; }
        }
        double p = (1 - pIgnore) / 2;
        AssertWithin(writes, n, p);
        AssertWithin(reads, n, p);
        AssertWithin(ones, freeBits, 0.5);
    }

    static void AssertWithin(long hits, long trials, double p)
    {
        double sd = Math.Sqrt(trials * p * (1 - p));
        Assert.InRange(hits, trials * p - 5 * sd - 1, trials * p + 5 * sd + 1);
    }

    [Fact]
    public void Same_seed_gives_same_sequences_and_shards_equal_the_whole()
    {
        var whole = Sample(0.8, 3000, 64, seed: 5);
        var again = Sample(0.8, 3000, 64, seed: 5);
        Assert.Equal(whole.Tokens, again.Tokens);
        var shard = Sample(0.8, 1000, 64, seed: 5, first: 1500);
        Assert.Equal(whole.Slice(1500, 1000).Tokens, shard.Tokens);
        var single = new byte[64];
        new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.8)).Sample(5, RandomDomain.Dataset, 2999, single);
        Assert.Equal(whole.Sequence(2999).ToArray(), single);
        Assert.NotEqual(whole.Tokens, Sample(0.8, 3000, 64, seed: 6).Tokens);
    }

    [Fact]
    public void Explicit_probabilities_are_honoured()
    {
        var data = new FlipFlopSampler(new FlipFlopDistribution(0.5, 0.0, 0.5)).SampleMany(3, RandomDomain.Dataset, 0, 200, 100);
        for (int s = 0; s < data.Count; s++)
        {
            var seq = data.Sequence(s);
            for (int t = 2; t < 98; t += 2) Assert.NotEqual(Tokens.Read, seq[t]);
        }
    }

    [Fact]
    public void Mixture_draws_each_component_for_about_a_third_of_the_sequences()
    {
        var sampler = new FlipFlopSampler(FlipFlopMixture.Parse("0.9,0.98,0.1"));
        var data = sampler.SampleMany(11, RandomDomain.Training, 0, 3000, 512);
        int sparse = 0, mid = 0, dense = 0;
        for (int s = 0; s < data.Count; s++)
        {
            var seq = data.Sequence(s);
            int ignores = 0;
            for (int t = 2; t < 510; t += 2) if (seq[t] == Tokens.Ignore) ignores++;
            double fraction = ignores / 254.0;
            if (fraction > 0.95) sparse++;
            else if (fraction > 0.6) mid++;
            else dense++;
        }
        foreach (int c in new[] { sparse, mid, dense }) AssertWithin(c, 3000, 1.0 / 3);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(2)]
    [InlineData(0)]
    public void Lengths_that_are_odd_or_below_four_are_rejected(int length)
    {
        var e = Assert.Throws<ArgumentException>(() => Sample(0.8, 1, length));
        Assert.Contains("even and at least 4", e.Message);
    }

    [Fact]
    public void Distributions_reject_bad_probabilities()
    {
        Assert.Contains("must be 1", Assert.Throws<ArgumentException>(() => new FlipFlopDistribution(0.5, 0.5, 0.5)).Message);
        Assert.Contains("p_ignore", Assert.Throws<ArgumentException>(() => FlipFlopDistribution.WithIgnore(1.5)).Message);
        Assert.Contains("not a number", Assert.Throws<FormatException>(() => FlipFlopMixture.Parse("0.9,x")).Message);
    }
}
