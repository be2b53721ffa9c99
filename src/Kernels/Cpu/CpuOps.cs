using System.Numerics;
using System.Runtime.Intrinsics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

/// <summary>
/// The CPU twins of the kernels: every op of <see cref="IOps{T}"/> in C#, generic over float (training) and
/// double (gradient checks). SIMD through Vector256 and TensorPrimitives, all cores through Parallel.For.
/// Work is split into chunks whose boundaries do not depend on the core count, and partial sums are combined
/// in chunk order, so results are bit-identical on any machine with the same instruction set.
/// One file per op family: CpuOps.*.cs.
/// </summary>
public sealed unsafe partial class CpuOps<T> : IOps<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public CpuOps(IDevice device)
    {
        if (!device.IsHostMemory) throw new ArgumentException("the CPU ops need a host-memory device");
        Device = device;
    }

    public IDevice Device { get; }

    /// <summary>Rows per parallel chunk for row-wise ops: fixed, so reductions are independent of the core count.</summary>
    const int RowChunk = 64;

    /// <summary>Elements per parallel chunk for pointwise ops.</summary>
    const int ElementChunk = 1 << 14;

    static int Chunks(long count, long chunk) => (int)((count + chunk - 1) / chunk);

    static void ForChunks(long count, long chunk, Action<long, long> body)
    {
        int chunks = Chunks(count, chunk);
        if (chunks <= 1) { if (count > 0) body(0, count); return; }
        Parallel.For(0, chunks, i =>
        {
            long start = i * chunk;
            body(start, Math.Min(count, start + chunk));
        });
    }

    static T Of(double value) => T.CreateTruncating(value);

    /// <summary>
    /// The sum of x (n) in an order fixed by n alone: Vector256 lanes (the same width on AVX2 and AVX-512 machines,
    /// unlike TensorPrimitives.Sum), then the lanes in order, then the tail. Keeps CPU results identical across machines.
    /// </summary>
    static T FixedSum(T* x, int n)
    {
        int w = System.Runtime.Intrinsics.Vector256<T>.Count, i = 0;
        var acc = System.Runtime.Intrinsics.Vector256<T>.Zero;
        for (; i + w <= n; i += w) acc += System.Runtime.Intrinsics.Vector256.Load(x + i);
        T sum = T.Zero;
        for (int lane = 0; lane < w; lane++) sum += acc[lane];
        for (; i < n; i++) sum += x[i];
        return sum;
    }

    /// <summary>The dot product of a and b (n) in an order fixed by n alone (see <see cref="FixedSum"/>).</summary>
    static T FixedDot(T* a, T* b, int n)
    {
        int w = System.Runtime.Intrinsics.Vector256<T>.Count, i = 0;
        var acc = System.Runtime.Intrinsics.Vector256<T>.Zero;
        for (; i + w <= n; i += w) acc += System.Runtime.Intrinsics.Vector256.Load(a + i) * System.Runtime.Intrinsics.Vector256.Load(b + i);
        T sum = T.Zero;
        for (int lane = 0; lane < w; lane++) sum += acc[lane];
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    public void Fill(Buf<T> x, T value) => x.Span.Fill(value);

    public void SumForward(Buf<T> output, Buf<T> input, long n)
    {
        int chunks = Chunks(n, ElementChunk);
        var partial = new T[Math.Max(1, chunks)];
        ForChunks(n, ElementChunk, (s, e) =>
        {
            T sum = T.Zero;
            T* p = input.Ptr;
            for (long i = s; i < e; i++) sum += p[i];
            partial[s / ElementChunk] = sum;
        });
        T total = T.Zero;
        foreach (var v in partial) total += v;
        output.Ptr[0] = total;
    }

    public void LossGuard(Buf<int> diverged, Buf<T> loss)
    {
        if (!T.IsFinite(loss.Span[0])) diverged.Span[0] = 1;
    }

    static void CheckSize(Buf<T> buffer, long needed, string name)
    {
        if (buffer.Length < needed) throw new ArgumentException($"{name} has {buffer.Length} elements, the op needs {needed}");
    }
}
