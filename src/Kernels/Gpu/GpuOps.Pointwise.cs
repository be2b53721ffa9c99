using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
    public void GeluForward(Buf<float> output, Buf<float> input, long n) => Launch1D("gelu_forward", n, output, input, n);

    public void GeluBackward(Buf<float> dinput, Buf<float> input, Buf<float> doutput, long n) => Launch1D("gelu_backward", n, dinput, input, doutput, n);

    public void ResidualForward(Buf<float> output, Buf<float> a, Buf<float> b, long n) => Launch1D("residual_forward", n, output, a, b, n);

    public void DropoutForward(Buf<float> output, Buf<float> input, DropoutSpec spec, long n) => Dropout(output, input, spec, n);

    public void DropoutBackward(Buf<float> dinput, Buf<float> doutput, DropoutSpec spec, long n) => Dropout(dinput, doutput, spec, n);

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
