using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
    /// <summary>parameters (n), m (n), v (n) updated in place from gradients (n): one AdamW step (decoupled weight decay, PyTorch's formula).</summary>
    public void AdamWUpdate(Buf<float> parameters, Buf<float> gradients, Buf<float> m, Buf<float> v, AdamWStep step, long n, Buf<int> skip = default)
    {
        if (!skip.IsEmpty) CheckSize(skip, 1, "skip");
        CheckSize(parameters, n, "parameters"); CheckSize(gradients, n, "gradients"); CheckSize(m, n, "m"); CheckSize(v, n, "v");
        if (n == 0) return;
        // The scalars as the CPU twin computes them (float arithmetic on the rounded hyper-parameters).
        float lr = (float)step.LearningRate;
        float decay = 1f - lr * (float)step.WeightDecay;
        float stepSize = lr / (float)(1 - Math.Pow(step.Beta1, step.Step));
        float bc2Sqrt = (float)Math.Sqrt(1 - Math.Pow(step.Beta2, step.Step));
        Device.Launch("adamw_update", GridStride(n, "adamw_update"), Threads("adamw_update"), 0, parameters, gradients, m, v, n,
            decay, (float)step.Beta1, (float)step.Beta2, (float)step.Epsilon, stepSize, bc2Sqrt, skip);
    }
}
