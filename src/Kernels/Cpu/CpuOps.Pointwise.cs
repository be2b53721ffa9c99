using System.Runtime.Intrinsics;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Kernels.Cpu;

public sealed unsafe partial class CpuOps<T>
{
    static readonly T InvSqrt2 = T.CreateTruncating(0.70710678118654752440);
    static readonly T InvSqrt2Pi = T.CreateTruncating(0.39894228040143267794);
    static readonly T Half = T.CreateTruncating(0.5);

    public void GeluForward(Buf<T> output, Buf<T> input, long n) =>
        ForChunks(n, ElementChunk, (s, e) =>
        {
            T* x = input.Ptr, y = output.Ptr;
            long i = s;
            if (typeof(T) == typeof(float))
                for (; i + 8 <= e; i += 8)
                {
                    var v = Vector256.Load((float*)x + i);
                    var cdf = 0.5f * (Vector256<float>.One + SpecialFunctions.Erf(v * 0.70710678f));
                    (v * cdf).Store((float*)y + i);
                }
            for (; i < e; i++) y[i] = Half * x[i] * (T.One + SpecialFunctions.Erf(x[i] * InvSqrt2));
        });

    public void GeluBackward(Buf<T> dinput, Buf<T> input, Buf<T> doutput, long n) =>
        ForChunks(n, ElementChunk, (s, e) =>
        {
            T* x = input.Ptr, dy = doutput.Ptr, dx = dinput.Ptr;
            long i = s;
            if (typeof(T) == typeof(float))
                for (; i + 8 <= e; i += 8)
                {
                    var v = Vector256.Load((float*)x + i);
                    var cdf = 0.5f * (Vector256<float>.One + SpecialFunctions.Erf(v * 0.70710678f));
                    var pdf = 0.39894228f * Vector256.Exp(-0.5f * v * v);
                    ((cdf + v * pdf) * Vector256.Load((float*)dy + i)).Store((float*)dx + i);
                }
            for (; i < e; i++)
            {
                T cdf = Half * (T.One + SpecialFunctions.Erf(x[i] * InvSqrt2));
                T pdf = InvSqrt2Pi * T.Exp(-Half * x[i] * x[i]);
                dx[i] = (cdf + x[i] * pdf) * dy[i];
            }
        });

    public void ResidualForward(Buf<T> output, Buf<T> a, Buf<T> b, long n) =>
        ForChunks(n, ElementChunk, (s, e) =>
            System.Numerics.Tensors.TensorPrimitives.Add<T>(
                new ReadOnlySpan<T>(a.Ptr + s, (int)(e - s)), new ReadOnlySpan<T>(b.Ptr + s, (int)(e - s)), new Span<T>(output.Ptr + s, (int)(e - s))));

    public void DropoutForward(Buf<T> output, Buf<T> input, DropoutSpec spec, long n) => Dropout(output, input, spec, n);

    public void DropoutBackward(Buf<T> dinput, Buf<T> doutput, DropoutSpec spec, long n) => Dropout(dinput, doutput, spec, n);

    static void Dropout(Buf<T> output, Buf<T> input, DropoutSpec spec, long n)
    {
        if (!spec.Active)
        {
            if (output.Address != input.Address) input.Span[..(int)n].CopyTo(output.Span);
            return;
        }
        T scale = T.One / T.CreateTruncating(1.0 - spec.P);
        uint k0 = (uint)spec.Seed, k1 = (uint)(spec.Seed >> 32), s0 = (uint)spec.Stream, s1 = (uint)(spec.Stream >> 32);
        ForChunks(n, ElementChunk, (s, e) =>
        {
            T* x = input.Ptr, y = output.Ptr;
            Span<uint> words = stackalloc uint[4];
            for (long i = s; i < e; i++)
            {
                if (i == s || (i & 3) == 0)
                {
                    var (w0, w1, w2, w3) = Philox.Block((uint)(i >> 2), s0, s1, RandomDomain.Dropout, k0, k1);
                    words[0] = w0; words[1] = w1; words[2] = w2; words[3] = w3;
                }
                y[i] = Philox.ToUnitFloat(words[(int)(i & 3)]) < spec.P ? T.Zero : x[i] * scale;
            }
        });
    }
}
