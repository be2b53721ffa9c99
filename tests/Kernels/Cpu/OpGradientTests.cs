using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Kernels.Cpu;

/// <summary>
/// Every op's backward against central finite differences in double precision on small random shapes.
/// The loss is sum(G * output) for a random G, so the op's backward gets doutput = G. Bound: 1e-6 relative to
/// the largest gradient of the tensor (typical errors are 1e-9 .. 1e-11).
/// </summary>
[Trait("Category", "Cpu")]
public sealed class OpGradientTests
{
    const double Bound = 1e-6;

    [Fact]
    public void Embedding()
    {
        using var h = new OpHarness<double>(1);
        int n = 7, v = 5, c = 6;
        var table = h.Random(v * c);
        var tokens = h.Buffer(h.RandomInts(n, v));
        var g = h.Random(n * c);
        var tb = h.Buffer(table); var outb = h.Zeros(n * c); var gb = h.Buffer(g); var dtable = h.Zeros(v * c);
        double Loss() { h.Device.Upload<double>(table, tb); h.Ops.EmbeddingForward(outb, tokens, tb, n, c); return GradCheck.Dot(h.Read(outb), g); }
        h.Ops.EmbeddingBackward(dtable, gb, tokens, n, v, c);
        Assert.True(GradCheck.RelativeError(table, Loss, h.Read(dtable)) < Bound);
    }

    [Fact]
    public void PositionAdd()
    {
        using var h = new OpHarness<double>(2);
        int b = 2, t = 5, c = 4;
        var table = h.Random(8 * c); // longer table than T: only the first T rows are used
        var x0 = h.Random(b * t * c);
        var g = h.Random(b * t * c);
        var tb = h.Buffer(table); var xb = h.Zeros(b * t * c); var gb = h.Buffer(g); var dtable = h.Zeros(8 * c);
        double Loss()
        {
            h.Device.Upload<double>(table, tb); h.Device.Upload<double>(x0, xb);
            h.Ops.PositionAddForward(xb, tb, 0.5, b, t, c);
            return GradCheck.Dot(h.Read(xb), g);
        }
        h.Ops.PositionAddBackward(dtable, gb, 0.5, b, t, c);
        Assert.True(GradCheck.RelativeError(table, Loss, h.Read(dtable)) < Bound);
        Assert.All(h.Read(dtable).Skip(t * c), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void SinusoidalTableAndLinearPositions()
    {
        using var h = new OpHarness<double>(3);
        int t = 6, c = 8;
        var table = h.Zeros(t * c);
        h.Ops.SinusoidalTable(table, t, c);
        var values = h.Read(table);
        Assert.Equal(Math.Sin(3 * Math.Pow(10000, -2.0 / 4)), values[3 * c + 2], 15);
        Assert.Equal(Math.Cos(5 * Math.Pow(10000, -1.0 / 4)), values[5 * c + 4 + 1], 15);
        var x = h.Zeros(2 * t * c);
        h.Ops.LinearPositionForward(x, 4.0, 2, t, c);
        var xs = h.Read(x);
        Assert.Equal(5 / 4.0, xs[(t + 5) * c + c - 1]);
        Assert.Equal(0.0, xs[(t + 5) * c + c - 2]);
        Assert.Equal(0.0, xs[c - 1]);
    }

    [Fact]
    public void PositionScale()
    {
        using var h = new OpHarness<double>(11);
        int b = 2, t = 5, c = 4;
        var table = h.Random(8 * c); // longer table than T: only the first T rows are used
        var x0 = h.Random(b * t * c);
        var g = h.Random(b * t * c);
        var scale = new[] { 0.37 };
        var tb = h.Buffer(table); var sb = h.Zeros(1); var xb = h.Zeros(b * t * c);
        double Loss()
        {
            h.Device.Upload<double>(scale, sb); h.Device.Upload<double>(x0, xb);
            h.Ops.PositionScaleForward(xb, tb, sb, b, t, c);
            return GradCheck.Dot(h.Read(xb), g);
        }
        var dscale = h.Buffer(new[] { 0.25 }); // the backward accumulates
        h.Ops.PositionScaleBackward(dscale, h.Buffer(g), tb, b, t, c);
        Assert.True(GradCheck.RelativeError(scale, Loss, [h.Read(dscale)[0] - 0.25]) < Bound);
        Loss();
        var xs = h.Read(xb);
        Assert.Equal(x0[t * c + 3 * c + 1] + 0.37 * table[3 * c + 1], xs[t * c + 3 * c + 1], 15);
    }

    [Fact]
    public void LinearPositionEmbedding()
    {
        using var h = new OpHarness<double>(12);
        int b = 2, t = 5, c = 6, v = 5, e = c - 1;
        var table = h.Random(v * e);
        var tokens = h.Buffer(h.RandomInts(b * t, v));
        var g = h.Random(b * t * c);
        var tb = h.Buffer(table); var outb = h.Zeros(b * t * c); var gb = h.Buffer(g);
        var dtable0 = h.Random(v * e); var dtable = h.Buffer(dtable0); // the backward accumulates
        double Loss() { h.Device.Upload<double>(table, tb); h.Ops.LinearPositionEmbeddingForward(outb, tokens, tb, 4.0, b, t, c); return GradCheck.Dot(h.Read(outb), g); }
        h.Ops.LinearPositionEmbeddingBackward(dtable, gb, tokens, b * t, v, e + 1);
        Assert.True(GradCheck.RelativeError(table, Loss, h.Read(dtable).Select((d, i) => d - dtable0[i]).ToArray()) < Bound);
        // [e_t, t/C]: the token's row, then the position as its own coordinate
        Loss();
        var output = h.Read(outb);
        var ids = h.Device.ToArray(tokens);
        for (int row = 0; row < b * t; row++)
        {
            for (int j = 0; j < e; j++) Assert.Equal(table[ids[row] * e + j], output[row * c + j]);
            Assert.Equal(row % t / 4.0, output[row * c + e]);
        }
    }

    [Theory]
    [InlineData(8, false)] // rope-full: the whole head of q and k
    [InlineData(8, true)]
    [InlineData(4, true)]  // rope: part of the head of q, k and v
    [InlineData(2, false)]
    public void Rope(int rot, bool values)
    {
        using var h = new OpHarness<double>(4);
        int b = 2, t = 5, c = 16, heads = 2, dh = c / heads;
        var qkv = h.Random(b * t * 3 * c);
        var g = h.Random(b * t * 3 * c);
        var xb = h.Zeros(qkv.Length);
        double Loss() { h.Device.Upload<double>(qkv, xb); h.Ops.RopeForward(xb, b, t, c, heads, rot, values); return GradCheck.Dot(h.Read(xb), g); }
        var db = h.Buffer(g);
        h.Ops.RopeBackward(db, b, t, c, heads, rot, values);
        Assert.True(GradCheck.RelativeError(qkv, Loss, h.Read(db)) < Bound);
        // position 0 is not rotated; dims past rot and (unless asked) v are not rotated; the rotation keeps the norm
        Loss();
        var rotated = h.Read(xb);
        for (int j = 0; j < 3 * c; j++) Assert.Equal(qkv[j], rotated[j], 15);
        long row = 4 * 3 * c;
        for (int part = 0; part < 3; part++)
            for (int head = 0; head < heads; head++)
            {
                long at = row + part * c + head * dh;
                bool turned = part < 2 || values;
                for (int j = 0; j < dh; j++)
                    if (j >= rot || !turned) Assert.Equal(qkv[at + j], rotated[at + j]);
                    else Assert.NotEqual(qkv[at + j], rotated[at + j]);
                double before = 0, after = 0;
                for (int j = 0; j < rot; j++) { before += qkv[at + j] * qkv[at + j]; after += rotated[at + j] * rotated[at + j]; }
                Assert.Equal(before, after, 12);
            }
        // the angle of pair i (dims i and i + rot/2) at position t is t * 10000^(-2i/rot)
        int pair = rot / 2 - 1;
        double angle = 4 * Math.Pow(10000, -2.0 * pair / rot);
        Assert.Equal(qkv[row + pair] * Math.Cos(angle) - qkv[row + pair + rot / 2] * Math.Sin(angle), rotated[row + pair], 12);
    }

    [Fact]
    public void LayerNorm()
    {
        using var h = new OpHarness<double>(5);
        int n = 6, c = 7;
        var x = h.Random(n * c, 2); var w = h.Random(c); var bias = h.Random(c); var g = h.Random(n * c);
        var xb = h.Zeros(n * c); var wb = h.Zeros(c); var bb = h.Zeros(c); var outb = h.Zeros(n * c); var mean = h.Zeros(n); var rstd = h.Zeros(n);
        double Loss()
        {
            h.Device.Upload<double>(x, xb); h.Device.Upload<double>(w, wb); h.Device.Upload<double>(bias, bb);
            h.Ops.LayerNormForward(outb, mean, rstd, xb, wb, bb, n, c);
            return GradCheck.Dot(h.Read(outb), g);
        }
        Loss();
        var dx = h.Buffer(h.Random(n * c)); var dxBefore = h.Read(dx); // backward accumulates: start from non-zero
        var dw = h.Zeros(c); var db = h.Zeros(c);
        h.Ops.LayerNormBackward(dx, dw, db, h.Buffer(g), xb, wb, mean, rstd, n, c);
        var dxs = h.Read(dx).Select((v, i) => v - dxBefore[i]).ToArray();
        Assert.True(GradCheck.RelativeError(x, Loss, dxs) < Bound);
        Assert.True(GradCheck.RelativeError(w, Loss, h.Read(dw)) < Bound);
        Assert.True(GradCheck.RelativeError(bias, Loss, h.Read(db)) < Bound);
    }

    [Theory]
    [InlineData(5, 3, 4, true)]
    [InlineData(13, 17, 9, false)]
    public void Matmul(int n, int c, int oc, bool withBias)
    {
        using var h = new OpHarness<double>(6);
        var x = h.Random(n * c); var w = h.Random(oc * c); var bias = h.Random(oc); var g = h.Random(n * oc);
        var xb = h.Zeros(n * c); var wb = h.Zeros(oc * c); var bb = h.Zeros(oc); var outb = h.Zeros(n * oc);
        double Loss()
        {
            h.Device.Upload<double>(x, xb); h.Device.Upload<double>(w, wb); h.Device.Upload<double>(bias, bb);
            h.Ops.MatmulForward(outb, xb, wb, withBias ? bb : Buf<double>.Empty, n, c, oc, MatmulPrecision.Fp32);
            return GradCheck.Dot(h.Read(outb), g);
        }
        Loss();
        var dx = h.Zeros(n * c); var dw = h.Zeros(oc * c); var db = h.Zeros(oc);
        h.Ops.MatmulBackward(dx, dw, withBias ? db : Buf<double>.Empty, h.Buffer(g), xb, wb, n, c, oc, MatmulPrecision.Fp32);
        Assert.True(GradCheck.RelativeError(x, Loss, h.Read(dx)) < Bound);
        Assert.True(GradCheck.RelativeError(w, Loss, h.Read(dw)) < Bound);
        if (withBias) Assert.True(GradCheck.RelativeError(bias, Loss, h.Read(db)) < Bound);
        else Assert.All(h.Read(db), v => Assert.Equal(0.0, v));
    }

    [Theory]
    [InlineData(false, 0.0, 0.0, 1.0)]
    [InlineData(true, 0.0, 0.0, 1.0)]
    [InlineData(false, 0.3, 0.0, 1.0)]
    [InlineData(false, 0.0, 0.7, 1.0)]
    [InlineData(true, 0.25, 0.5, 1.0)]
    [InlineData(true, 0.0, 0.3, 0.5)]
    [InlineData(false, 0.2, 0.0, 4.0)]
    public void Attention(bool alibi, double dropout, double entropyScale, double temperature)
    {
        using var h = new OpHarness<double>(7);
        int b = 2, t = 6, c = 8, heads = 2;
        var qkv = h.Random(b * t * 3 * c, 1.5); var g = h.Random(b * t * c);
        var options = new AttentionOptions(alibi, dropout > 0 ? new DropoutSpec((float)dropout, 99, 3) : DropoutSpec.None, (float)temperature);
        var xb = h.Zeros(qkv.Length); var outb = h.Zeros(b * t * c); var saved = h.Zeros(h.Ops.AttentionSavedLength(b, t, heads)); var ent = h.Zeros(1);
        double Loss()
        {
            h.Device.Upload<double>(qkv, xb);
            h.Ops.AttentionForward(outb, saved, xb, options, b, t, c, heads);
            h.Ops.AttentionEntropyForward(ent, saved, b, t, heads);
            return GradCheck.Dot(h.Read(outb), g) + entropyScale * h.Read(ent)[0];
        }
        Loss();
        var dqkv = h.Buffer(h.Random(qkv.Length)); // overwritten by the backward
        h.Ops.AttentionBackward(dqkv, h.Buffer(g), xb, outb, saved, entropyScale, options, b, t, c, heads);
        double error = GradCheck.RelativeError(qkv, Loss, h.Read(dqkv));
        Assert.True(error < Bound, $"relative error {error}");
    }

    [Fact]
    public void AttentionTemperatureDividesEveryLogitAlibiIncluded()
    {
        using var h = new OpHarness<double>(9);
        int b = 1, t = 7, c = 8, heads = 2;
        var qkv = h.Buffer(h.Random(b * t * 3 * c, 2.0));
        var cold = new AttentionOptions(true, DropoutSpec.None, 0.25f);
        var plain = new AttentionOptions(true, DropoutSpec.None);
        var probs = h.Zeros(b * heads * t * t); var scores = h.Zeros(b * heads * t * t);
        h.Ops.AttentionProbabilities(probs, scores, qkv, plain, b, t, c, heads);
        var s1 = h.Read(scores);
        h.Ops.AttentionProbabilities(probs, scores, qkv, cold, b, t, c, heads);
        var s4 = h.Read(scores);
        for (int i = 0; i < s1.Length; i++) Assert.Equal(4 * s1[i], s4[i], 12);
        // colder attention is more peaked: every row's maximum grows (or stays 1), the forward keeps the same probabilities
        var p4 = h.Read(probs);
        h.Ops.AttentionProbabilities(probs, scores, qkv, plain, b, t, c, heads);
        var p1 = h.Read(probs);
        for (int row = 0; row < heads * t; row++)
        {
            int i = row % t;
            Assert.True(p4.Skip(row * t).Take(i + 1).Max() >= p1.Skip(row * t).Take(i + 1).Max() - 1e-12, $"row {row}");
        }
        var saved = h.Zeros(h.Ops.AttentionSavedLength(b, t, heads));
        h.Ops.AttentionForward(h.Zeros(b * t * c), saved, qkv, cold, b, t, c, heads);
        AssertSavedStatistics(h.Read(saved), p4, s4, b * heads, t);
    }

    /// <summary>The forward's saved (B,H,T,3) rows hold logsumexp of the scores and the mean score under probs (rows, T).</summary>
    static void AssertSavedStatistics(double[] saved, double[] probs, double[] scores, int rows, int t)
    {
        for (int row = 0; row < rows * t; row++)
        {
            int i = row % t;
            var s = scores.Skip(row * t).Take(i + 1).ToArray();
            double max = s.Max(), lse = max + Math.Log(s.Sum(x => Math.Exp(x - max)));
            double mean = 0;
            for (int j = 0; j <= i; j++) mean += probs[row * t + j] * s[j];
            Assert.Equal(lse, saved[row * 3], 12);
            Assert.Equal(mean, saved[row * 3 + 1], 12);
        }
    }

    [Fact]
    public void AttentionProbabilitiesAreCausalRowsThatSumToOne()
    {
        using var h = new OpHarness<double>(8);
        int b = 1, t = 5, c = 4, heads = 2, dh = c / heads;
        var qkvValues = h.Random(b * t * 3 * c);
        var qkv = h.Buffer(qkvValues);
        var saved = h.Zeros(h.Ops.AttentionSavedLength(b, t, heads));
        var alibi = new AttentionOptions(true, DropoutSpec.None);
        h.Ops.AttentionForward(h.Zeros(b * t * c), saved, qkv, alibi, b, t, c, heads);
        var probs = h.Zeros(b * heads * t * t);
        var scores = h.Zeros(b * heads * t * t);
        h.Ops.AttentionProbabilities(probs, scores, qkv, alibi, b, t, c, heads);
        var p = h.Read(probs);
        var s = h.Read(scores);
        AssertSavedStatistics(h.Read(saved), p, s, b * heads, t); // the analysis op agrees with the forward's statistics
        var slopes = RawFlipFlop.Kernels.Cpu.CpuOps<double>.AlibiSlopes(heads);
        for (int head = 0; head < heads; head++)
            for (int i = 0; i < t; i++)
            {
                int row = head * t + i;
                Assert.Equal(1.0, p.Skip(row * t).Take(i + 1).Sum(), 12);
                Assert.All(p.Skip(row * t + i + 1).Take(t - i - 1), v => Assert.Equal(0.0, v));
                for (int j = 0; j <= i; j++)
                {
                    double dot = 0;
                    for (int d = 0; d < dh; d++) dot += qkvValues[i * 3 * c + head * dh + d] * qkvValues[j * 3 * c + c + head * dh + d];
                    Assert.Equal(dot / Math.Sqrt(dh) - slopes[head] * (i - j), s[row * t + j], 12);
                }
            }
        Assert.Equal(1.0, p[0]); // the first query sees only itself
        var ent = h.Zeros(1);
        h.Ops.AttentionEntropyForward(ent, saved, b, t, heads);
        double expected = -p.Where(v => v > 0).Sum(v => v * Math.Log(v));
        Assert.Equal(expected, h.Read(ent)[0], 12);
    }

    [Fact]
    public void AlibiSlopesAreTheStandardOnes()
    {
        Assert.Equal([0.25, 0.0625, 0.015625, 0.00390625], RawFlipFlop.Kernels.Cpu.CpuOps<double>.AlibiSlopes(4)); // start 2^(-8/H), geometric
        var eight = RawFlipFlop.Kernels.Cpu.CpuOps<double>.AlibiSlopes(8);
        Assert.Equal(Math.Pow(2, -1), eight[0], 14);
        Assert.Equal(Math.Pow(2, -8), eight[7], 14);
        // 6 heads: the 4-head slopes, then every other slope of the 8-head set
        var six = RawFlipFlop.Kernels.Cpu.CpuOps<double>.AlibiSlopes(6);
        Assert.Equal([0.25, 0.0625, 0.015625, 0.00390625, eight[0], eight[2]], six);
    }

    [Fact]
    public void Gelu()
    {
        using var h = new OpHarness<double>(9);
        int n = 40;
        var x = h.Random(n, 4); var g = h.Random(n);
        var xb = h.Zeros(n); var outb = h.Zeros(n);
        double Loss() { h.Device.Upload<double>(x, xb); h.Ops.GeluForward(outb, xb, n); return GradCheck.Dot(h.Read(outb), g); }
        Loss();
        var dx = h.Zeros(n);
        h.Ops.GeluBackward(dx, xb, h.Buffer(g), n);
        Assert.True(GradCheck.RelativeError(x, Loss, h.Read(dx)) < Bound);
        // exact-erf values (torch.nn.functional.gelu): gelu(1) = 0.841344746068543, gelu(-2) = -0.04550026389635842, gelu(3) = 2.99595030590511
        h.Device.Upload<double>([1.0, -2.0, 0.0, 3.0, .. new double[n - 4]], xb);
        h.Ops.GeluForward(outb, xb, n);
        var y = h.Read(outb);
        Assert.Equal(0.841344746068543, y[0], 14);
        Assert.Equal(-0.04550026389635842, y[1], 14);
        Assert.Equal(0.0, y[2]);
        Assert.Equal(2.99595030590511, y[3], 13);
    }

    [Fact]
    public void ResidualAndDropout()
    {
        using var h = new OpHarness<double>(10);
        int n = 1000;
        var a = h.Random(n); var b2 = h.Random(n);
        var outb = h.Zeros(n);
        h.Ops.ResidualForward(outb, h.Buffer(a), h.Buffer(b2), n);
        Assert.Equal(a[17] + b2[17], h.Read(outb)[17]);

        var spec = new DropoutSpec(0.25f, 1234, 77);
        var x = h.Random(n); var g = h.Random(n);
        var xb = h.Zeros(n); var y = h.Zeros(n);
        double Loss() { h.Device.Upload<double>(x, xb); h.Ops.DropoutForward(y, xb, spec, n); return GradCheck.Dot(h.Read(y), g); }
        Loss();
        var ys = h.Read(y);
        int dropped = ys.Count(v => v == 0);
        Assert.InRange(dropped, 250 - 60, 250 + 60);
        for (int i = 0; i < n; i++) if (ys[i] != 0) Assert.Equal(x[i] / 0.75, ys[i], 12);
        var dx = h.Buffer(g);
        h.Ops.DropoutBackward(dx, dx, spec, n); // in place
        Assert.True(GradCheck.RelativeError(x, Loss, h.Read(dx)) < Bound);
        // another stream gives another mask; the same spec gives the same mask
        h.Device.Upload<double>(x, xb);
        var other = h.Zeros(n);
        h.Ops.DropoutForward(other, xb, spec with { Stream = 78 }, n);
        Assert.NotEqual(ys, h.Read(other));
        h.Ops.DropoutForward(other, xb, spec, n);
        Assert.Equal(ys, h.Read(other));
    }

    [Fact]
    public void Lstm()
    {
        using var h = new OpHarness<double>(11);
        int b = 2, t = 5, hidden = 3;
        var xproj = h.Random(b * t * 4 * hidden, 1.5); var whh = h.Random(4 * hidden * hidden, 0.8); var bhh = h.Random(4 * hidden, 0.5);
        var g = h.Random(b * t * hidden);
        var xb = h.Zeros(xproj.Length); var wb = h.Zeros(whh.Length); var bb = h.Zeros(bhh.Length);
        var hs = h.Zeros(b * t * hidden); var cs = h.Zeros(b * t * hidden); var gates = h.Zeros(b * t * 4 * hidden);
        double Loss()
        {
            h.Device.Upload<double>(xproj, xb); h.Device.Upload<double>(whh, wb); h.Device.Upload<double>(bhh, bb);
            h.Ops.LstmForward(hs, cs, gates, xb, wb, bb, b, t, hidden);
            return GradCheck.Dot(h.Read(hs), g);
        }
        Loss();
        var dx = h.Zeros(xproj.Length); var dw = h.Zeros(whh.Length); var db = h.Zeros(bhh.Length);
        h.Ops.LstmBackward(dx, dw, db, h.Buffer(g), hs, cs, gates, wb, b, t, hidden);
        Assert.True(GradCheck.RelativeError(xproj, Loss, h.Read(dx)) < Bound);
        Assert.True(GradCheck.RelativeError(whh, Loss, h.Read(dw)) < Bound);
        Assert.True(GradCheck.RelativeError(bhh, Loss, h.Read(db)) < Bound);
    }

    [Fact]
    public void CrossEntropy()
    {
        using var h = new OpHarness<double>(12);
        int n = 9, v = 5;
        var logits = h.Random(n * v, 3);
        int[] targets = [3, -1, 4, 0, -1, 2, 1, 4, -1];
        var tb = h.Buffer(targets);
        var lb = h.Zeros(n * v); var losses = h.Zeros(n); var dl = h.Zeros(n * v);
        double scale = 1.0 / 6;
        double Loss() { h.Device.Upload<double>(logits, lb); h.Ops.CrossEntropyForwardBackward(losses, dl, lb, tb, scale, n, v); return h.Read(losses).Sum() * scale; }
        Loss();
        var analytic = h.Read(dl);
        Assert.True(GradCheck.RelativeError(logits, Loss, analytic) < Bound);
        Assert.Equal(0.0, h.Read(losses)[1]);
        Assert.All(analytic.Skip(v).Take(v), x => Assert.Equal(0.0, x));
        // direct value of one row
        var row = logits.Take(v).ToArray();
        double expected = Math.Log(row.Sum(Math.Exp)) - row[3];
        Assert.Equal(expected, h.Read(losses)[0], 13);
    }

    [Fact]
    public void ArgmaxAndSum()
    {
        using var h = new OpHarness<double>(13);
        var logits = h.Buffer(new double[] { 0, 1, 5, 2, -1, /**/ 3, 3, 1, 0, 0 });
        var pred = h.Device.Allocate<int>(2);
        h.Ops.ArgmaxForward(pred, logits, 2, 5);
        Assert.Equal([2, 0], h.Device.ToArray(pred)); // ties: the first maximum
        var values = h.Random(50_000);
        var sum = h.Zeros(1);
        h.Ops.SumForward(sum, h.Buffer(values), values.Length);
        Assert.Equal(values.Sum(), h.Read(sum)[0], 9);
    }

    [Fact]
    public void ReadErrorsOpAgreesWithTheHostMetric()
    {
        using var h = new OpHarness<double>(14);
        int b = 6, t = 32, v = 5;
        var data = new RawFlipFlop.Engine.Data.FlipFlopSampler(RawFlipFlop.Engine.Data.FlipFlopDistribution.WithIgnore(0.4))
            .SampleMany(3, RawFlipFlop.Kernels.Random.RandomDomain.Dataset, 0, b, t);
        var logits = h.Random(b * t * v);
        // make most reads right so errors are a minority, as in practice
        for (int i = 0; i + 1 < b * t; i++)
            if (i % t % 2 == 0 && data.Tokens[i] == 1 && i % 3 != 0) logits[i * v + data.Tokens[i + 1]] = 5;
        var tokens = h.Buffer(data.Tokens.Select(x => (int)x).ToArray());
        var errors = h.Device.Allocate<int>(b * t);
        var perSequence = h.Device.Allocate<int>(2 * b);
        var lb = h.Buffer(logits);
        h.Ops.ReadErrorsForward(errors, perSequence, tokens, lb, b, t, v);
        var predictions = h.Device.Allocate<int>(b * t);
        h.Ops.ArgmaxForward(predictions, lb, b * t, v);
        var fromArgmax = new RawFlipFlop.Engine.Data.ReadErrorCounter("x");
        fromArgmax.Add(data.Tokens, h.Device.ToArray(predictions), t);
        var fromFlags = new RawFlipFlop.Engine.Data.ReadErrorCounter("x");
        fromFlags.AddErrorFlags(data.Tokens, h.Device.ToArray(errors), t);
        var counts = h.Device.ToArray(perSequence);
        Assert.True(fromArgmax.Errors > 0 && fromArgmax.Errors < fromArgmax.Reads);
        Assert.Equal(fromArgmax.Report(), fromFlags.Report());
        Assert.Equal(fromArgmax.ByDependency, fromFlags.ByDependency);
        Assert.Equal(fromArgmax.Reads, counts.Where((_, i) => i % 2 == 0).Sum());
        Assert.Equal(fromArgmax.Errors, counts.Where((_, i) => i % 2 == 1).Sum());
    }
}
