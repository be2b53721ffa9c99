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
            if (typeof(T) == typeof(float))
            {
                ForVectors<GeluForwardOp>((float*)x + s, null, (float*)y + s, e - s);
                return;
            }
            for (long i = s; i < e; i++) y[i] = Half * x[i] * (T.One + SpecialFunctions.Erf(x[i] * InvSqrt2));
        });

    public void GeluBackward(Buf<T> dinput, Buf<T> input, Buf<T> doutput, long n) =>
        ForChunks(n, ElementChunk, (s, e) =>
        {
            T* x = input.Ptr, dy = doutput.Ptr, dx = dinput.Ptr;
            if (typeof(T) == typeof(float))
            {
                ForVectors<GeluBackwardOp>((float*)x + s, (float*)dy + s, (float*)dx + s, e - s);
                return;
            }
            for (long i = s; i < e; i++)
            {
                T cdf = Half * (T.One + SpecialFunctions.Erf(x[i] * InvSqrt2));
                T pdf = InvSqrt2Pi * T.Exp(-Half * x[i] * x[i]);
                dx[i] = (cdf + x[i] * pdf) * dy[i];
            }
        });

    /// <summary>An elementwise function of two float vectors; a struct, so that <see cref="ForVectors"/> inlines it.</summary>
    interface IVectorOp
    {
        static abstract Vector256<float> Apply(Vector256<float> a, Vector256<float> b);
    }

    /// <summary>Phi(x) = (1 + erf(x / sqrt 2)) / 2.</summary>
    static Vector256<float> GeluCdf(Vector256<float> v) =>
        Vector256.FusedMultiplyAdd(Vector256.Create(0.5f), SpecialFunctions.Erf(v * 0.70710678f), Vector256.Create(0.5f));

    /// <summary>x Phi(x).</summary>
    struct GeluForwardOp : IVectorOp
    {
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> _) => x * GeluCdf(x);
    }

    /// <summary>dx = (Phi(x) + x phi(x)) dy.</summary>
    struct GeluBackwardOp : IVectorOp
    {
        public static Vector256<float> Apply(Vector256<float> x, Vector256<float> dy)
        {
            var pdf = 0.39894228f * SpecialFunctions.Exp(-0.5f * x * x);
            return Vector256.FusedMultiplyAdd(x, pdf, GeluCdf(x)) * dy;
        }
    }

    /// <summary>
    /// y[i] = f(a[i], b[i]) for i in [0, n), 8 at a time; the last partial vector goes through a zero-padded copy so
    /// that it rounds as the others do. b may be null (the op then gets zeros).
    /// </summary>
    static void ForVectors<TOp>(float* a, float* b, float* y, long n) where TOp : struct, IVectorOp
    {
        long i = 0;
        for (; i + 8 <= n; i += 8)
            TOp.Apply(Vector256.Load(a + i), b != null ? Vector256.Load(b + i) : default).Store(y + i);
        if (i == n) return;
        int rest = (int)(n - i);
        float* ta = stackalloc float[8], tb = stackalloc float[8], ty = stackalloc float[8];
        for (int j = 0; j < 8; j++) { ta[j] = j < rest ? a[i + j] : 0; tb[j] = j < rest && b != null ? b[i + j] : 0; }
        TOp.Apply(Vector256.Load(ta), Vector256.Load(tb)).Store(ty);
        for (int j = 0; j < rest; j++) y[i + j] = ty[j];
    }

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
