using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Kernels.Gpu;

public abstract partial class OpComparisons
{
    [Fact]
    public void Pointwise_ops()
    {
        int n = 5003;
        var x = Random(n, 11, 4); var g = Random(n, 12);
        Compare(s =>
        {
            var gelu = s.Zeros(n); var dgelu = s.Zeros(n); var sum = s.Zeros(n);
            var xs = s.F(x); var gs = s.F(g);
            s.Ops.GeluForward(gelu, xs, n);
            s.Ops.GeluBackward(dgelu, xs, gs, n);
            s.Ops.ResidualForward(sum, xs, gs, n);
            var dropped = s.Zeros(n); var ddropped = s.F(g);
            var spec = new DropoutSpec(0.3f, 77, 12345);
            s.Ops.DropoutForward(dropped, xs, spec, n);
            s.Ops.DropoutBackward(ddropped, ddropped, spec, n);
            var copy = s.Zeros(n);
            s.Ops.DropoutForward(copy, xs, DropoutSpec.None, n);
            s.Output("gelu", gelu);
            s.Output("gelu backward", dgelu);
            s.Output("residual", sum);
            s.Output("dropout", dropped);
            s.Output("dropout backward (in place)", ddropped);
            s.Output("dropout off", copy);
        });
    }
}
