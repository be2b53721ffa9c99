using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Kernels.Gpu;

public abstract partial class OpComparisons
{
    [Fact]
    public void AdamW_matches_its_CPU_twin()
    {
        const int n = 10_007;
        var parameters = Random(n, 1);
        var gradients = Random(n, 2, 0.1);
        var m = Random(n, 3, 0.01);
        var v = Random(n, 4, 1e-4, 1.1e-4);  // second moments are positive
        foreach (var step in new[] { new AdamWStep(3e-4, 0.9, 0.999, 1e-8, 0.1, 1), new AdamWStep(1e-2, 0.8, 0.99, 1e-6, 0.0, 37) })
            Compare(s =>
            {
                var p = s.F(parameters); var mb = s.F(m); var vb = s.F(v);
                s.Ops.AdamWUpdate(p, s.F(gradients), mb, vb, step, n);
                s.Output($"adamw params (step {step.Step})", p);
                s.Output($"adamw m (step {step.Step})", mb);
                s.Output($"adamw v (step {step.Step})", vb);
            });
    }

    /// <summary>
    /// The divergence guard and the skip it feeds: a finite loss leaves the flag as it was, NaN and both infinities set
    /// it, and a set flag leaves the parameters and moments untouched (also with a finite gradient).
    /// </summary>
    [Fact]
    public void LossGuard_and_AdamW_skip_match_their_CPU_twins()
    {
        const int n = 1_003;
        var parameters = Random(n, 5);
        var gradients = Random(n, 6, 0.1);
        var step = new AdamWStep(3e-4, 0.9, 0.999, 1e-8, 0.1, 4);
        var losses = new[] { 2.5f, float.NaN, float.PositiveInfinity, float.NegativeInfinity, float.MaxValue, -0f };
        var outputs = Compare(s =>
        {
            for (int i = 0; i < losses.Length; i++)
            {
                var clean = s.IntZeros(1);
                s.Ops.LossGuard(clean, s.F([losses[i]]));
                s.Output($"guard from 0, loss {i}", clean);
                var set = s.I([1]);
                s.Ops.LossGuard(set, s.F([losses[i]]));
                s.Output($"guard from 1, loss {i}", set);
            }
            foreach (int flag in new[] { 0, 1 })
            {
                var p = s.F(parameters); var m = s.F(Random(n, 7, 0.01)); var v = s.F(Random(n, 8, 1e-4, 1.1e-4));
                s.Ops.AdamWUpdate(p, s.F(gradients), m, v, step, n, s.I([flag]));
                s.Output($"params, skip {flag}", p); s.Output($"m, skip {flag}", m); s.Output($"v, skip {flag}", v);
            }
        });
        Assert.Equal([0, 1, 1, 1, 0, 0], Enumerable.Range(0, losses.Length).Select(i => outputs.Int($"guard from 0, loss {i}")[0]));
        Assert.All(Enumerable.Range(0, losses.Length), i => Assert.Equal(1, outputs.Int($"guard from 1, loss {i}")[0]));
        Assert.Equal(parameters, outputs.Float("params, skip 1"));
        Assert.NotEqual(parameters, outputs.Float("params, skip 0"));
    }
}
