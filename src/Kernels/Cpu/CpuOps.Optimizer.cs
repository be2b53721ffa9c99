using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

public sealed unsafe partial class CpuOps<T>
{
    public void AdamWUpdate(Buf<T> parameters, Buf<T> gradients, Buf<T> m, Buf<T> v, AdamWStep step, long n)
    {
        // torch.optim.AdamW (single-tensor path): decay, moments, bias corrections, update.
        T lr = Of(step.LearningRate), b1 = Of(step.Beta1), b2 = Of(step.Beta2), eps = Of(step.Epsilon);
        T decay = T.One - lr * Of(step.WeightDecay);
        T stepSize = lr / Of(1 - Math.Pow(step.Beta1, step.Step));
        T bc2Sqrt = Of(Math.Sqrt(1 - Math.Pow(step.Beta2, step.Step)));
        T oneMinusB1 = T.One - b1, oneMinusB2 = T.One - b2;
        ForChunks(n, ElementChunk, (s, e) =>
        {
            T* p = parameters.Ptr, g = gradients.Ptr, mm = m.Ptr, vv = v.Ptr;
            for (long i = s; i < e; i++)
            {
                p[i] *= decay;
                mm[i] += (g[i] - mm[i]) * oneMinusB1;
                vv[i] = vv[i] * b2 + oneMinusB2 * g[i] * g[i];
                T denom = T.Sqrt(vv[i]) / bc2Sqrt + eps;
                p[i] -= stepSize * mm[i] / denom;
            }
        });
    }
}
