using RawFlipFlop.Engine.Data;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Kernels.Gpu;

public abstract partial class OpComparisons
{
    [Fact]
    public void Cross_entropy_argmax_and_read_errors()
    {
        int b = 4, t = 40, v = 5, n = b * t;
        var logits = Random(n * v, 14, 3);
        var tokens = new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.4))
            .SampleMany(5, RandomDomain.Dataset, 0, b, t).Tokens.Select(x => (int)x).ToArray();
        var targets = tokens.Select((tok, i) => i % t < t - 1 && tok == 1 ? tokens[i + 1] : -1).ToArray();
        var dlogits0 = Random(n * v, 15);
        var expected = Compare(s =>
        {
            var l = s.F(logits);
            var losses = s.Zeros(n); var dlogits = s.F(dlogits0);
            s.Ops.CrossEntropyForwardBackward(losses, dlogits, l, s.I(targets), 0.125f, n, v);
            var predictions = s.IntZeros(n);
            s.Ops.ArgmaxForward(predictions, l, n, v);
            var errors = s.IntZeros(n); var perSequence = s.IntZeros(2 * b);
            s.Ops.ReadErrorsForward(errors, perSequence, s.I(tokens), l, b, t, v);
            s.Output("cross-entropy losses", losses);
            s.Output("cross-entropy gradient", dlogits);
            s.Output("argmax", predictions);
            s.Output("read errors", errors);
            s.Output("read errors per sequence", perSequence);
        });
        Assert.True(expected.Int("read errors per sequence").Where((_, i) => i % 2 == 1).Sum() > 0, "the random logits should make read errors");
    }
}
