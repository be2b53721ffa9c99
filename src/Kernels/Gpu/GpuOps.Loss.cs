using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
    public void CrossEntropyForwardBackward(Buf<float> losses, Buf<float> dlogits, Buf<float> logits, Buf<int> targets, float dscale, int n, int v) =>
        Device.Launch("crossentropy_forward_backward", Dim3.Blocks(n, Threads("crossentropy_forward_backward")), Threads("crossentropy_forward_backward"), 0,
            losses, KernelArg.Of(dlogits), logits, targets, dscale, n, v);

    public void ArgmaxForward(Buf<int> predictions, Buf<float> logits, int n, int v) =>
        Device.Launch("argmax_forward", Dim3.Blocks(n, Threads("argmax_forward")), Threads("argmax_forward"), 0, predictions, logits, n, v);

    public void ReadErrorsForward(Buf<int> errors, Buf<int> perSequence, Buf<int> tokens, Buf<float> logits, int b, int t, int v) =>
        Device.Launch("read_errors_forward", WarpBlocks(b, "read_errors_forward"), Threads("read_errors_forward"), 0,
            errors, perSequence, tokens, logits, b, t, v);
}
