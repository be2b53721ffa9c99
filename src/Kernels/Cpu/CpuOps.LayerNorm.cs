using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

public sealed unsafe partial class CpuOps<T>
{
    static readonly T LayerNormEps = T.CreateTruncating(1e-5);

    public void LayerNormForward(Buf<T> output, Buf<T> mean, Buf<T> rstd, Buf<T> input, Buf<T> weight, Buf<T> bias, int n, int c)
    {
        T invC = T.One / T.CreateTruncating(c);
        ForChunks(n, RowChunk, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                T* x = input.Ptr + i * c, y = output.Ptr + i * c;
                T m = T.Zero;
                for (int j = 0; j < c; j++) m += x[j];
                m *= invC;
                T var = T.Zero;
                for (int j = 0; j < c; j++) { T d = x[j] - m; var += d * d; }
                var *= invC;
                T r = T.One / T.Sqrt(var + LayerNormEps);
                for (int j = 0; j < c; j++) y[j] = (x[j] - m) * r * weight.Ptr[j] + bias.Ptr[j];
                mean.Ptr[i] = m;
                rstd.Ptr[i] = r;
            }
        });
    }

    public void LayerNormBackward(Buf<T> dinput, Buf<T> dweight, Buf<T> dbias, Buf<T> doutput, Buf<T> input, Buf<T> weight,
        Buf<T> mean, Buf<T> rstd, int n, int c)
    {
        int chunks = Chunks(n, RowChunk);
        var partialW = new T[(long)chunks * c];
        var partialB = new T[(long)chunks * c];
        T invC = T.One / T.CreateTruncating(c);
        ForChunks(n, RowChunk, (s, e) =>
        {
            long chunk = s / RowChunk;
            fixed (T* pw = &partialW[chunk * c], pb = &partialB[chunk * c])
                for (long i = s; i < e; i++)
                {
                    T* x = input.Ptr + i * c, dy = doutput.Ptr + i * c, dx = dinput.Ptr + i * c;
                    T m = mean.Ptr[i], r = rstd.Ptr[i];
                    T dnormMean = T.Zero, dnormNormMean = T.Zero;
                    for (int j = 0; j < c; j++)
                    {
                        T norm = (x[j] - m) * r;
                        T dnorm = weight.Ptr[j] * dy[j];
                        dnormMean += dnorm;
                        dnormNormMean += dnorm * norm;
                        pw[j] += norm * dy[j];
                        pb[j] += dy[j];
                    }
                    dnormMean *= invC;
                    dnormNormMean *= invC;
                    for (int j = 0; j < c; j++)
                    {
                        T norm = (x[j] - m) * r;
                        T dnorm = weight.Ptr[j] * dy[j];
                        dx[j] += (dnorm - dnormMean - norm * dnormNormMean) * r;
                    }
                }
        });
        for (int chunk = 0; chunk < chunks; chunk++)
            for (int j = 0; j < c; j++)
            {
                dweight.Ptr[j] += partialW[(long)chunk * c + j];
                dbias.Ptr[j] += partialB[(long)chunk * c + j];
            }
    }
}
