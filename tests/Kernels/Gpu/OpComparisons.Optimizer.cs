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
}
