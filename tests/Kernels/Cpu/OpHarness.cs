using System.Numerics;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Kernels.Cpu;

/// <summary>A CPU device and its ops for tests, with seeded random host data and finite-difference helpers.</summary>
public sealed class OpHarness<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly System.Random _random;

    public OpHarness(int seed = 1)
    {
        _random = new System.Random(seed);
        Device = new CpuDevice();
        Ops = new CpuOps<T>(Device);
    }

    public CpuDevice Device { get; }
    public CpuOps<T> Ops { get; }

    public T[] Random(long count, double scale = 1.0)
    {
        var values = new T[count];
        for (long i = 0; i < count; i++) values[i] = T.CreateTruncating(scale * (2 * _random.NextDouble() - 1));
        return values;
    }

    public int[] RandomInts(long count, int max)
    {
        var values = new int[count];
        for (long i = 0; i < count; i++) values[i] = _random.Next(max);
        return values;
    }

    public Buf<TE> Buffer<TE>(TE[] values) where TE : unmanaged => Device.AllocateFrom<TE>(values);
    public Buf<T> Zeros(long count) => Device.Allocate<T>(count);
    public T[] Read(Buf<T> buffer) => Device.ToArray(buffer);

    public void Dispose() => Device.Dispose();
}

public static class GradCheck
{
    /// <summary>
    /// Central finite differences of loss() with respect to every element of x (modified in place and restored),
    /// compared with the analytic gradient. Returns the worst error relative to the largest gradient magnitude
    /// of the tensor: max_i |analytic_i - numeric_i| / max_i |numeric_i|.
    /// </summary>
    public static double RelativeError(Span<double> x, Func<double> loss, ReadOnlySpan<double> analytic, double eps = 1e-5)
    {
        double worst = 0, scale = 1e-300;
        var numeric = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            double saved = x[i];
            x[i] = saved + eps; double plus = loss();
            x[i] = saved - eps; double minus = loss();
            x[i] = saved;
            numeric[i] = (plus - minus) / (2 * eps);
            scale = Math.Max(scale, Math.Abs(numeric[i]));
        }
        for (int i = 0; i < x.Length; i++) worst = Math.Max(worst, Math.Abs(analytic[i] - numeric[i]));
        return worst / scale;
    }

    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>|actual - expected| &lt;= atol + rtol |expected| for every element (<see cref="KernelAssert.Close(ReadOnlySpan{double}, ReadOnlySpan{double}, string, double, double)"/>).</summary>
    public static void AssertClose(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, double atol, double rtol, string what) =>
        KernelAssert.Close(expected, actual, what, atol, rtol);
}
