using System.Runtime.Intrinsics;
using RawFlipFlop.Kernels.Devices;

using static RawFlipFlop.Kernels.Cpu.VectorFma;

namespace RawFlipFlop.Kernels.Cpu;

/// <summary>
/// Layer norm over rows of C, a vector of columns at a time: row sums go through one Vector256 of partial sums, then
/// its lanes, then the scalar tail, the same for every row whatever the chunking.
/// </summary>
public sealed unsafe partial class CpuOps<T>
{
    static readonly T LayerNormEps = T.CreateTruncating(1e-5);

    public void LayerNormForward(Buf<T> output, Buf<T> mean, Buf<T> rstd, Buf<T> input, Buf<T> weight, Buf<T> bias, int n, int c)
    {
        T invC = T.One / T.CreateTruncating(c);
        int w = Vector256<T>.Count, cv = c / w * w;
        ForChunks(n, RowChunk, (s, e) =>
        {
            T* gamma = weight.Ptr, beta = bias.Ptr;
            for (long i = s; i < e; i++)
            {
                T* x = input.Ptr + i * c, y = output.Ptr + i * c;
                var acc = Vector256<T>.Zero;
                for (int j = 0; j < cv; j += w) acc += Vector256.Load(x + j);
                T m = Vector256.Sum(acc);
                for (int j = cv; j < c; j++) m += x[j];
                m *= invC;
                var mv = Vector256.Create(m);
                acc = Vector256<T>.Zero;
                for (int j = 0; j < cv; j += w) { var d = Vector256.Load(x + j) - mv; acc = Fma(d, d, acc); }
                T var = Vector256.Sum(acc);
                for (int j = cv; j < c; j++) { T d = x[j] - m; var += d * d; }
                var *= invC;
                T r = T.One / T.Sqrt(var + LayerNormEps);
                var rv = Vector256.Create(r);
                for (int j = 0; j < cv; j += w)
                    Fma((Vector256.Load(x + j) - mv) * rv, Vector256.Load(gamma + j), Vector256.Load(beta + j)).Store(y + j);
                for (int j = cv; j < c; j++) y[j] = (x[j] - m) * r * gamma[j] + beta[j];
                mean.Ptr[i] = m;
                rstd.Ptr[i] = r;
            }
        });
    }

    public void LayerNormBackward(Buf<T> dinput, Buf<T> dweight, Buf<T> dbias, Buf<T> doutput, Buf<T> input, Buf<T> weight,
        Buf<T> mean, Buf<T> rstd, int n, int c)
    {
        int chunks = Chunks(n, RowChunk);
        var partialW = new T[(long)chunks * c];   // (chunks, C) dweight of each chunk of rows, summed in chunk order below
        var partialB = new T[(long)chunks * c];
        T invC = T.One / T.CreateTruncating(c);
        int w = Vector256<T>.Count, cv = c / w * w;
        ForChunks(n, RowChunk, (s, e) =>
        {
            long chunk = s / RowChunk;
            T* gamma = weight.Ptr;
            fixed (T* pw = &partialW[chunk * c], pb = &partialB[chunk * c])
                for (long i = s; i < e; i++)
                {
                    T* x = input.Ptr + i * c, dy = doutput.Ptr + i * c, dx = dinput.Ptr + i * c;
                    T m = mean.Ptr[i], r = rstd.Ptr[i];
                    Vector256<T> mv = Vector256.Create(m), rv = Vector256.Create(r);
                    Vector256<T> meanAcc = Vector256<T>.Zero, normMeanAcc = Vector256<T>.Zero;
                    for (int j = 0; j < cv; j += w)
                    {
                        var norm = (Vector256.Load(x + j) - mv) * rv;
                        var dyv = Vector256.Load(dy + j);
                        var dnorm = Vector256.Load(gamma + j) * dyv;
                        meanAcc += dnorm;
                        normMeanAcc = Fma(dnorm, norm, normMeanAcc);
                        Fma(norm, dyv, Vector256.Load(pw + j)).Store(pw + j);
                        (Vector256.Load(pb + j) + dyv).Store(pb + j);
                    }
                    T dnormMean = Vector256.Sum(meanAcc), dnormNormMean = Vector256.Sum(normMeanAcc);
                    for (int j = cv; j < c; j++)
                    {
                        T norm = (x[j] - m) * r;
                        T dnorm = gamma[j] * dy[j];
                        dnormMean += dnorm;
                        dnormNormMean += dnorm * norm;
                        pw[j] += norm * dy[j];
                        pb[j] += dy[j];
                    }
                    dnormMean *= invC;
                    dnormNormMean *= invC;
                    Vector256<T> dmv = Vector256.Create(dnormMean), dnmv = Vector256.Create(dnormNormMean);
                    for (int j = 0; j < cv; j += w)
                    {
                        var norm = (Vector256.Load(x + j) - mv) * rv;
                        var dnorm = Vector256.Load(gamma + j) * Vector256.Load(dy + j);
                        Fma(dnorm - dmv - norm * dnmv, rv, Vector256.Load(dx + j)).Store(dx + j);
                    }
                    for (int j = cv; j < c; j++)
                    {
                        T norm = (x[j] - m) * r;
                        T dnorm = gamma[j] * dy[j];
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
