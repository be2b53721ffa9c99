using System.Runtime.Intrinsics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

public sealed unsafe partial class CpuOps<T>
{
    public void AdamWUpdate(Buf<T> parameters, Buf<T> gradients, Buf<T> m, Buf<T> v, AdamWStep step, long n, Buf<int> skip = default)
    {
        if (!skip.IsEmpty && skip.Span[0] != 0) return;
        // torch.optim.AdamW (single-tensor path): decay, moments, bias corrections, update. The vector loop does the
        // scalar loop's operations in its order, without fused multiply-adds, so both give the same bits.
        T lr = Of(step.LearningRate), b1 = Of(step.Beta1), b2 = Of(step.Beta2), eps = Of(step.Epsilon);
        T decay = T.One - lr * Of(step.WeightDecay);
        T stepSize = lr / Of(1 - Math.Pow(step.Beta1, step.Step));
        T bc2Sqrt = Of(Math.Sqrt(1 - Math.Pow(step.Beta2, step.Step)));
        T oneMinusB1 = T.One - b1, oneMinusB2 = T.One - b2;
        ForChunks(n, ElementChunk, (s, e) =>
        {
            T* p = parameters.Ptr, g = gradients.Ptr, mm = m.Ptr, vv = v.Ptr;
            var decayV = Vector256.Create(decay); var b2V = Vector256.Create(b2); var epsV = Vector256.Create(eps);
            var stepSizeV = Vector256.Create(stepSize); var bc2SqrtV = Vector256.Create(bc2Sqrt);
            var oneMinusB1V = Vector256.Create(oneMinusB1); var oneMinusB2V = Vector256.Create(oneMinusB2);
            long i = s;
            for (; i + Vector256<T>.Count <= e; i += Vector256<T>.Count)
            {
                var pi = Vector256.Load(p + i) * decayV;
                var gi = Vector256.Load(g + i);
                var mi = Vector256.Load(mm + i);
                mi += (gi - mi) * oneMinusB1V;
                var vi = Vector256.Load(vv + i) * b2V + oneMinusB2V * gi * gi;
                var denom = Vector256.Sqrt(vi) / bc2SqrtV + epsV;
                (pi - stepSizeV * mi / denom).Store(p + i);
                mi.Store(mm + i);
                vi.Store(vv + i);
            }
            for (; i < e; i++)
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
