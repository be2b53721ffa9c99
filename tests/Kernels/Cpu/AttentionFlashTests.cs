using System.Numerics;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Kernels.Cpu;

/// <summary>
/// The CPU's flash attention (key blocks, online softmax, probabilities recomputed in the backward) against the
/// straightforward math with the full (T,T) probabilities in double, on shapes that leave partial blocks and padded
/// head dimensions; and its results independent of the other heads, of the batch and of earlier calls' scratch.
/// </summary>
[Trait("Category", "Cpu")]
public sealed class AttentionFlashTests
{
    /// <summary>The reference: output (B,T,C), dqkv (B,T,3C) and the summed row entropy, from full (T,T) matrices.</summary>
    static (double[] Output, double[] Dqkv, double Entropy) Reference(double[] qkv, double[] dout, AttentionOptions options, double entropyScale,
        int b, int t, int c, int heads)
    {
        int dh = c / heads;
        double scale = 1 / Math.Sqrt(dh) * options.InverseTemperature;
        var slopes = CpuOps<double>.AlibiSlopes(heads);
        var output = new double[b * t * c];
        var dqkv = new double[b * t * 3 * c];
        double entropy = 0, keepScale = 1 / (1.0 - options.Dropout.P);
        for (int bi = 0; bi < b; bi++)
            for (int h = 0; h < heads; h++)
            {
                int bh = bi * heads + h;
                double Q(int i, int d) => qkv[(bi * t + i) * 3 * c + h * dh + d];
                double K(int j, int d) => qkv[(bi * t + j) * 3 * c + c + h * dh + d];
                double V(int j, int d) => qkv[(bi * t + j) * 3 * c + 2 * c + h * dh + d];
                double DOut(int i, int d) => dout[(bi * t + i) * c + h * dh + d];
                // p (T,T) probabilities, weights (T,T) after dropout (0 above the diagonal)
                var p = new double[t, t];
                var weights = new double[t, t];
                for (int i = 0; i < t; i++)
                {
                    var s = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        double dot = 0;
                        for (int d = 0; d < dh; d++) dot += Q(i, d) * K(j, d);
                        s[j] = dot * scale - (options.Alibi ? slopes[h] * options.InverseTemperature * (i - j) : 0);
                    }
                    double max = s.Max(), sum = s.Sum(x => Math.Exp(x - max));
                    for (int j = 0; j <= i; j++)
                    {
                        p[i, j] = Math.Exp(s[j] - max) / sum;
                        entropy -= p[i, j] * Math.Log(p[i, j]);
                        bool dropped = options.Dropout.Active &&
                            Philox.ToUnitFloat(Philox.Word(options.Dropout.Seed, options.Dropout.Stream, RandomDomain.Dropout, (ulong)(((long)bh * t + i) * t + j))) < options.Dropout.P;
                        weights[i, j] = dropped ? 0 : options.Dropout.Active ? p[i, j] * keepScale : p[i, j];
                    }
                    for (int d = 0; d < dh; d++)
                    {
                        double y = 0;
                        for (int j = 0; j <= i; j++) y += weights[i, j] * V(j, d);
                        output[(bi * t + i) * c + h * dh + d] = y;
                    }
                }
                // dS (T,T) = P (dP - <P, dP>) scale, dP = dO V^T through the dropout, minus entropyScale (log p + 1)
                var ds = new double[t, t];
                for (int i = 0; i < t; i++)
                {
                    var dp = new double[i + 1];
                    for (int j = 0; j <= i; j++)
                    {
                        double dw = 0;
                        for (int d = 0; d < dh; d++) dw += DOut(i, d) * V(j, d);
                        dp[j] = options.Dropout.Active ? (weights[i, j] == 0 ? 0 : dw * keepScale) : dw;
                        dp[j] -= entropyScale * (Math.Log(p[i, j]) + 1);
                    }
                    double dot = 0;
                    for (int j = 0; j <= i; j++) dot += p[i, j] * dp[j];
                    for (int j = 0; j <= i; j++) ds[i, j] = p[i, j] * (dp[j] - dot) * scale;
                }
                for (int i = 0; i < t; i++)
                    for (int d = 0; d < dh; d++)
                    {
                        double dq = 0, dk = 0, dv = 0;
                        for (int j = 0; j <= i; j++) dq += ds[i, j] * K(j, d);
                        for (int r = i; r < t; r++) { dk += ds[r, i] * Q(r, d); dv += weights[r, i] * DOut(r, d); }
                        long row = (long)(bi * t + i) * 3 * c + h * dh + d;
                        dqkv[row] = dq; dqkv[row + c] = dk; dqkv[row + 2 * c] = dv;
                    }
            }
        return (output, dqkv, entropy);
    }

    /// <summary>The op's output, dqkv and summed entropy on device T.</summary>
    static (double[] Output, double[] Dqkv, double Entropy) Flash<T>(double[] qkv, double[] dout, AttentionOptions options, double entropyScale,
        int b, int t, int c, int heads) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var h = new OpHarness<T>();
        T[] Of(double[] x) => [.. x.Select(T.CreateTruncating)];
        var q = h.Buffer(Of(qkv));
        var output = h.Zeros(b * t * c);
        var saved = h.Zeros(h.Ops.AttentionSavedLength(b, t, heads));
        var entropy = h.Zeros(1);
        var dqkv = h.Buffer(h.Random(qkv.Length)); // overwritten
        h.Ops.AttentionForward(output, saved, q, options, b, t, c, heads);
        h.Ops.AttentionEntropyForward(entropy, saved, b, t, heads);
        h.Ops.AttentionBackward(dqkv, h.Buffer(Of(dout)), q, output, saved, T.CreateTruncating(entropyScale), options, b, t, c, heads);
        double[] Read(Buf<T> x) => [.. h.Read(x).Select(double.CreateTruncating)];
        return (Read(output), Read(dqkv), Read(entropy)[0]);
    }

    static void AssertClose(double[] expected, double[] actual, double bound, string what)
    {
        double worst = 0, magnitude = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= bound * magnitude, $"{what}: max error {worst} against max magnitude {magnitude}");
    }

    [Theory]
    // b, t, c, heads, alibi, dropout, entropy scale, temperature: T not a multiple of the 64-key block, head dims 20 (padded) and 64
    [InlineData(2, 130, 60, 3, false, 0f, 0.0, 1f)]
    [InlineData(2, 130, 60, 3, true, 0f, 0.0, 1f)]
    [InlineData(1, 150, 60, 3, true, 0.2f, 0.4, 0.7f)]
    [InlineData(2, 67, 128, 2, false, 0.15f, 0.0, 2f)]
    [InlineData(1, 99, 128, 2, true, 0f, 0.3, 1f)]
    [InlineData(1, 5, 12, 3, true, 0.3f, 0.2, 1.5f)]
    public void Flash_attention_matches_the_full_probability_math(int b, int t, int c, int heads, bool alibi, float dropout, double entropyScale, float temperature)
    {
        var random = new System.Random(t + c);
        double[] Random(long n) => [.. Enumerable.Range(0, (int)n).Select(_ => 1.5 * (2 * random.NextDouble() - 1))];
        var qkv = Random(b * t * 3 * c);
        var dout = Random(b * t * c);
        var options = new AttentionOptions(alibi, dropout > 0 ? new DropoutSpec(dropout, 11, 4) : DropoutSpec.None, temperature);
        var expected = Reference(qkv, dout, options, entropyScale, b, t, c, heads);
        var exact = Flash<double>(qkv, dout, options, entropyScale, b, t, c, heads);
        AssertClose(expected.Output, exact.Output, 1e-12, "double output");
        AssertClose(expected.Dqkv, exact.Dqkv, 1e-11, "double dqkv");
        Assert.Equal(expected.Entropy, exact.Entropy, 1e-9 * Math.Max(1, expected.Entropy));
        var single = Flash<float>(qkv, dout, options, entropyScale, b, t, c, heads);
        AssertClose(expected.Output, single.Output, 2e-6, "float output");
        AssertClose(expected.Dqkv, single.Dqkv, 2e-5, "float dqkv");
        Assert.Equal(expected.Entropy, single.Entropy, 1e-5 * Math.Max(1, expected.Entropy));
    }

    [Fact]
    public void Each_head_is_computed_alone_whatever_ran_before()
    {
        int b = 2, t = 100, c = 48, heads = 2;
        var random = new System.Random(3);
        double[] Random(long n) => [.. Enumerable.Range(0, (int)n).Select(_ => 2 * random.NextDouble() - 1)];
        var qkv = Random(b * t * 3 * c);
        var dout = Random(b * t * c);
        var options = new AttentionOptions(true, new DropoutSpec(0.1f, 5, 6), 0.8f);
        var both = Flash<float>(qkv, dout, options, 0.2, b, t, c, heads);
        // a call of another shape in between leaves other data in the per-thread scratch
        Flash<float>(Random(3 * 70 * 40), Random(70 * 40), AttentionOptions.Plain, 0, 1, 70, 40, 1);
        var again = Flash<float>(qkv, dout, options, 0.2, b, t, c, heads);
        Assert.Equal(both.Output, again.Output);
        Assert.Equal(both.Dqkv, again.Dqkv);
        // batch row 0 alone (same head rows bh, so the same dropout masks) gives the same bits
        var first = Flash<float>(qkv[..(t * 3 * c)], dout[..(t * c)], options, 0.2, 1, t, c, heads);
        Assert.Equal(first.Output, both.Output[..(t * c)]);
        Assert.Equal(first.Dqkv, both.Dqkv[..(t * 3 * c)]);
    }
}
