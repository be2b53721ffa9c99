namespace RawFlipFlop.Tests.Kernels.Gpu;

public abstract partial class OpComparisons
{
    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 33)]
    [InlineData(19, 64)]
    [InlineData(70, 512)]
    public void LayerNorm_forward_matches_its_CPU_twin(int n, int c)
    {
        var x = Random(n * c, 5, 2, 0.5);
        var weight = Random(c, 6, 0.5, 1);
        var bias = Random(c, 7, 0.2);
        Compare(s =>
        {
            var output = s.Zeros(n * c); var mean = s.Zeros(n); var rstd = s.Zeros(n);
            s.Ops.LayerNormForward(output, mean, rstd, s.F(x), s.F(weight), s.F(bias), n, c);
            s.Output("layernorm output", output);
            s.Output("layernorm mean", mean);
            s.Output("layernorm rstd", rstd);
        });
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 33)]
    [InlineData(45, 64)]
    [InlineData(70, 300)]
    public void LayerNorm_backward_matches_its_CPU_twin(int n, int c)
    {
        // mean and rstd from the CPU forward, as the training step would have them.
        var x = Random(n * c, 8, 2, 0.5);
        var weight = Random(c, 9, 0.5, 1);
        var forward = KernelComparison.OnCpu(s =>
        {
            var mean = s.Zeros(n); var rstd = s.Zeros(n);
            s.Ops.LayerNormForward(s.Zeros(n * c), mean, rstd, s.F(x), s.F(weight), s.F(Random(c, 10)), n, c);
            s.Output("mean", mean);
            s.Output("rstd", rstd);
        });
        var dinput = Random(n * c, 11, 0.1); var dweight = Random(c, 12, 0.1); var dbias = Random(c, 13, 0.1);
        var doutput = Random(n * c, 14);
        Compare(s =>
        {
            var di = s.F(dinput); var dw = s.F(dweight); var db = s.F(dbias);
            s.Ops.LayerNormBackward(di, dw, db, s.F(doutput), s.F(x), s.F(weight), s.F(forward.Float("mean")), s.F(forward.Float("rstd")), n, c);
            s.Output("layernorm dinput", di);
            s.Output("layernorm dweight", dw);
            s.Output("layernorm dbias", db);
        });
    }
}
