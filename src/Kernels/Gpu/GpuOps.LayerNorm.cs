using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
    /// <summary>output (N,C), mean (N), rstd (N) from input (N,C), weight (C), bias (C); eps 1e-5.</summary>
    public void LayerNormForward(Buf<float> output, Buf<float> mean, Buf<float> rstd, Buf<float> input, Buf<float> weight, Buf<float> bias, int n, int c)
    {
        CheckSize(output, (long)n * c, "output"); CheckSize(input, (long)n * c, "input"); CheckSize(mean, n, "mean"); CheckSize(rstd, n, "rstd");
        CheckSize(weight, c, "weight"); CheckSize(bias, c, "bias");
        if (n == 0) return;
        int threads = Threads("layernorm_forward");
        Device.Launch("layernorm_forward", Dim3.Blocks(n, threads / WarpSize), threads, 0, output, mean, rstd, input, weight, bias, n, c);
    }

    /// <summary>dinput (N,C) +=, dweight (C) +=, dbias (C) += from doutput (N,C). Deterministic: fixed-order partial sums.</summary>
    public void LayerNormBackward(Buf<float> dinput, Buf<float> dweight, Buf<float> dbias, Buf<float> doutput, Buf<float> input,
        Buf<float> weight, Buf<float> mean, Buf<float> rstd, int n, int c)
    {
        CheckSize(dinput, (long)n * c, "dinput"); CheckSize(doutput, (long)n * c, "doutput"); CheckSize(input, (long)n * c, "input");
        CheckSize(dweight, c, "dweight"); CheckSize(dbias, c, "dbias"); CheckSize(weight, c, "weight"); CheckSize(mean, n, "mean"); CheckSize(rstd, n, "rstd");
        if (n == 0 || c == 0) return;
        uint blocks = Dim3.Blocks(n, _lnBackwardRows);
        var partials = Scratch(2L * blocks * c);
        Device.Launch("layernorm_backward", blocks, Threads("layernorm_backward"), 0, dinput, partials, doutput, input, weight, mean, rstd, n, c);
        int threads = Threads("layernorm_backward_reduce");
        Device.Launch("layernorm_backward_reduce", Dim3.Blocks(c, threads), threads, 0, dweight, dbias, partials, (int)blocks, c);
    }
}
