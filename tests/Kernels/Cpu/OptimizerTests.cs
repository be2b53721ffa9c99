using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Kernels.Cpu;

[Trait("Category", "Cpu")]
public sealed class OptimizerTests
{
    [Fact]
    public void AdamWMatchesClosedForm()
    {
        using var h = new OpHarness<double>(1);
        double[] p0 = [0.5, -1.0, 2.0];
        double[][] grads = [[0.1, -0.2, 0.3], [0.05, 0.4, -0.3], [-0.2, 0.0, 0.1]];
        double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
        var p = h.Buffer(p0); var m = h.Zeros(3); var v = h.Zeros(3);
        var expected = (double[])p0.Clone();
        var em = new double[3]; var ev = new double[3];
        for (int t = 1; t <= 3; t++)
        {
            var g = grads[t - 1];
            h.Ops.AdamWUpdate(p, h.Buffer(g), m, v, new AdamWStep(lr, b1, b2, eps, wd, t), 3);
            for (int i = 0; i < 3; i++)
            {
                expected[i] -= lr * wd * expected[i];
                em[i] = b1 * em[i] + (1 - b1) * g[i];
                ev[i] = b2 * ev[i] + (1 - b2) * g[i] * g[i];
                double mhat = em[i] / (1 - Math.Pow(b1, t)), vhat = ev[i] / (1 - Math.Pow(b2, t));
                expected[i] -= lr * mhat / (Math.Sqrt(vhat) + eps);
            }
            var actual = h.Read(p);
            for (int i = 0; i < 3; i++) Assert.Equal(expected[i], actual[i], 14);
        }
    }

    /// <summary>The float path's vector loop against torch's formula, one float operation at a time: the same bits.</summary>
    [Fact]
    public void AdamWFloatVectorLoopGivesTheBitsOfTheScalarFormula()
    {
        using var h = new OpHarness<float>(2);
        const int n = 8 * 5 + 3;
        var p0 = h.Random(n); var m0 = h.Random(n, 0.1); var v0 = h.Random(n, 0.01).Select(MathF.Abs).ToArray();
        var g = h.Random(n);
        var p = h.Buffer(p0); var m = h.Buffer(m0); var v = h.Buffer(v0);
        var step = new AdamWStep(3e-3, 0.9, 0.95, 1e-8, 0.1, 7);
        h.Ops.AdamWUpdate(p, h.Buffer(g), m, v, step, n);
        float lr = (float)step.LearningRate, b1 = (float)step.Beta1, b2 = (float)step.Beta2, eps = (float)step.Epsilon;
        float decay = 1f - lr * (float)step.WeightDecay, stepSize = lr / (float)(1 - Math.Pow(step.Beta1, step.Step));
        float bc2Sqrt = (float)Math.Sqrt(1 - Math.Pow(step.Beta2, step.Step));
        var (ps, ms, vs) = (h.Read(p), h.Read(m), h.Read(v));
        for (int i = 0; i < n; i++)
        {
            float pi = p0[i] * decay, mi = m0[i] + (g[i] - m0[i]) * (1f - b1), vi = v0[i] * b2 + (1f - b2) * g[i] * g[i];
            pi -= stepSize * mi / (MathF.Sqrt(vi) / bc2Sqrt + eps);
            Assert.Equal(pi, ps[i]); Assert.Equal(mi, ms[i]); Assert.Equal(vi, vs[i]);
        }
    }

    [Fact]
    public void ScheduleWarmsUpThenDecaysToZeroAtTotal()
    {
        var s = new LearningRateSchedule(3e-4, 50, 10_001);
        Assert.Equal(0.0, s.At(1));                      // transformers' scheduler: the first update has lr 0
        Assert.Equal(3e-4 * 10 / 50, s.At(11), 15);
        Assert.Equal(3e-4, s.At(51), 15);                // peak right after warm-up
        Assert.Equal(3e-4 * (10_001 - 5_000) / 9_951.0, s.At(5_001), 15);
        Assert.Equal(3e-4 * 2 / 9_951.0, s.At(10_000), 15); // last of 10^4 steps: still positive
        Assert.Equal(0.0, s.At(10_002));
        var noWarmup = new LearningRateSchedule(1.0, 0, 10);
        Assert.Equal(1.0, noWarmup.At(1));
        Assert.Equal(0.5, noWarmup.At(6));
    }
}
