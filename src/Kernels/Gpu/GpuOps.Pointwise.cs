using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
    /// <summary>output (n) = x Phi(x).</summary>
    public void GeluForward(Buf<float> output, Buf<float> input, long n) => Launch1D("gelu_forward", n, output, input, n);

    /// <summary>dinput (n) (overwritten) = GELU'(input (n)) * doutput (n).</summary>
    public void GeluBackward(Buf<float> dinput, Buf<float> input, Buf<float> doutput, long n) => Launch1D("gelu_backward", n, dinput, input, doutput, n);

    /// <summary>output (n) = a (n) + b (n).</summary>
    public void ResidualForward(Buf<float> output, Buf<float> a, Buf<float> b, long n) => Launch1D("residual_forward", n, output, a, b, n);

    /// <summary>output (n) = input (n) * keep / (1-p); in place allowed.</summary>
    public void DropoutForward(Buf<float> output, Buf<float> input, DropoutSpec spec, long n) => Dropout(output, input, spec, n);

    /// <summary>dinput (n) = doutput (n) * keep / (1-p), the forward's mask; in place allowed.</summary>
    public void DropoutBackward(Buf<float> dinput, Buf<float> doutput, DropoutSpec spec, long n) => Dropout(dinput, doutput, spec, n);

    /// <summary>output (n) = input (n) masked and scaled (a copy when dropout is off).</summary>
    void Dropout(Buf<float> output, Buf<float> input, DropoutSpec spec, long n)
    {
        if (!spec.Active)
        {
            if (output.Address != input.Address) Device.Copy(input.Slice(0, n), output.Slice(0, n));
            return;
        }
        Launch1D("dropout_forward", n, output, input, n, spec.P, spec.Seed, spec.Stream);
    }
}
