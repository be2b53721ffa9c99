using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

public sealed unsafe partial class CpuOps<T>
{
    public void CrossEntropyForwardBackward(Buf<T> losses, Buf<T> dlogits, Buf<T> logits, Buf<int> targets, T dscale, int n, int v)
    {
        ForChunks(n, RowChunk * 16, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                T* z = logits.Ptr + i * v, dz = dlogits.IsEmpty ? null : dlogits.Ptr + i * v;
                int target = targets.Ptr[i];
                if (target < 0)
                {
                    losses.Ptr[i] = T.Zero;
                    if (dz != null) new Span<T>(dz, v).Clear();
                    continue;
                }
                T max = z[0];
                for (int j = 1; j < v; j++) if (z[j] > max) max = z[j];
                T sum = T.Zero;
                for (int j = 0; j < v; j++) sum += T.Exp(z[j] - max);
                T logSum = T.Log(sum) + max;
                losses.Ptr[i] = logSum - z[target];
                if (dz != null)
                {
                    T inv = T.One / sum;
                    for (int j = 0; j < v; j++)
                        dz[j] = dscale * (T.Exp(z[j] - max) * inv - (j == target ? T.One : T.Zero));
                }
            }
        });
    }

    public void ArgmaxForward(Buf<int> predictions, Buf<T> logits, int n, int v)
    {
        ForChunks(n, RowChunk * 16, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                T* z = logits.Ptr + i * v;
                int best = 0;
                for (int j = 1; j < v; j++) if (z[j] > z[best]) best = j;
                predictions.Ptr[i] = best;
            }
        });
    }

    public void ReadErrorsForward(Buf<int> errors, Buf<int> perSequence, Buf<int> tokens, Buf<T> logits, int b, int t, int v) =>
        Parallel.For(0, b, s =>
        {
            int reads = 0, wrong = 0;
            for (int pos = 0; pos < t; pos++)
            {
                long row = (long)s * t + pos;
                int error = 0;
                if ((pos & 1) == 0 && pos + 1 < t && tokens.Ptr[row] == 1)
                {
                    T* z = logits.Ptr + row * v;
                    int best = 0;
                    for (int j = 1; j < v; j++) if (z[j] > z[best]) best = j;
                    error = best != tokens.Ptr[row + 1] ? 1 : 0;
                    reads++;
                    wrong += error;
                }
                errors.Ptr[row] = error;
            }
            perSequence.Ptr[2 * s] = reads;
            perSequence.Ptr[2 * s + 1] = wrong;
        });
}
