using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
    /// <summary>losses (N), dlogits (N,V) (may be empty) from logits (N,V), targets (N; -1 = not scored): a thread per row.</summary>
    public void CrossEntropyForwardBackward(Buf<float> losses, Buf<float> dlogits, Buf<float> logits, Buf<int> targets, float dscale, int n, int v) =>
        Device.Launch("crossentropy_forward_backward", Dim3.Blocks(n, Threads("crossentropy_forward_backward")), Threads("crossentropy_forward_backward"), 0,
            losses, KernelArg.Of(dlogits), logits, targets, dscale, n, v);

    /// <summary>predictions (N) = argmax of logits (N,V), the first maximum: a thread per row.</summary>
    public void ArgmaxForward(Buf<int> predictions, Buf<float> logits, int n, int v) =>
        Device.Launch("argmax_forward", Dim3.Blocks(n, Threads("argmax_forward")), Threads("argmax_forward"), 0, predictions, logits, n, v);

    /// <summary>errors (N), perSequence (B,2) from tokens (B,T) and logits (B,T,V): a warp per sequence.</summary>
    public void ReadErrorsForward(Buf<int> errors, Buf<int> perSequence, Buf<int> tokens, Buf<float> logits, int b, int t, int v) =>
        Device.Launch("read_errors_forward", WarpBlocks(b, "read_errors_forward"), Threads("read_errors_forward"), 0,
            errors, perSequence, tokens, logits, b, t, v);
}
