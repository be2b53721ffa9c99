using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RawFlipFlop.Kernels.Cpu;

/// <summary>
/// General matrix multiply on the CPU: C (M,N) [+]= op(A) (M,K) op(B) (K,N), op = identity or transpose.
/// Blocked like BLIS: op(A) and op(B) are packed into MR-row and NR-column panels per (MC, KC, NC) block and
/// multiplied by a 6 x 2-vector register-blocked micro-kernel with fused multiply-adds. Every element of C is
/// reduced in the same k order whatever the thread count, so results are bit-reproducible.
/// </summary>
public static unsafe class Gemm<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    const int MR = 6;
    static readonly int W = Vector256<T>.Count;
    static readonly int NR = 2 * Vector256<T>.Count;
    const int KC = 256;
    const int MC = 96;
    static readonly int NC = 64 * Vector256<T>.Count; // 512 floats, 256 doubles

    [ThreadStatic] static T[]? t_packA;
    [ThreadStatic] static T[]? t_packB;

    /// <summary>
    /// c (M,N), row stride ldc. A is (M,K) with row stride lda, or (K,M) when transA. B is (K,N) with row
    /// stride ldb, or (N,K) when transB. accumulate: C += product, else C = product.
    /// parallel: split the work over cores (leave false when the caller already runs in parallel).
    /// </summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k,
        T* a, int lda, T* b, int ldb, T* c, int ldc, bool accumulate, bool parallel = true)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++) new Span<T>(c + (long)i * ldc, n).Clear();
            return;
        }
        int mBlocks = (m + MC - 1) / MC;
        int nc = NC;
        int cores = Environment.ProcessorCount;
        bool useThreads = parallel && cores > 1 && (long)m * n * k >= 1 << 18;
        if (useThreads && mBlocks < 2 * cores)
        {
            // Too few row blocks to keep every core busy: cut N finer (in whole NR panels).
            int wanted = (2 * cores + mBlocks - 1) / mBlocks;
            nc = Math.Max(NR, Math.Min(NC, (n + wanted - 1) / wanted + NR - 1) / NR * NR);
        }
        int nBlocks = (n + nc - 1) / nc;
        int tasks = mBlocks * nBlocks;
        nint pa = (nint)a, pb = (nint)b, pc = (nint)c;
        if (!useThreads || tasks == 1)
        {
            for (int task = 0; task < tasks; task++)
                Block(task / nBlocks, task % nBlocks, nc, transA, transB, m, n, k, (T*)pa, lda, (T*)pb, ldb, (T*)pc, ldc, accumulate);
            return;
        }
        Parallel.For(0, tasks, task =>
            Block(task / nBlocks, task % nBlocks, nc, transA, transB, m, n, k, (T*)pa, lda, (T*)pb, ldb, (T*)pc, ldc, accumulate));
    }

    static void Block(int mb, int nb, int nc, bool transA, bool transB, int m, int n, int k,
        T* a, int lda, T* b, int ldb, T* c, int ldc, bool accumulate)
    {
        int i0 = mb * MC, mc = Math.Min(MC, m - i0);
        int j0 = nb * nc, ncols = Math.Min(nc, n - j0);
        int mPanels = (mc + MR - 1) / MR, nPanels = (ncols + NR - 1) / NR;
        var packA = t_packA ??= GC.AllocateArray<T>(KC * (MC + MR), pinned: true);
        if (t_packB == null || t_packB.Length < KC * (nc + NR)) t_packB = GC.AllocateArray<T>(KC * (NC + 2 * NR), pinned: true);
        var packB = t_packB;
        fixed (T* ap = packA, bp = packB)
        {
            for (int k0 = 0; k0 < k; k0 += KC)
            {
                int kc = Math.Min(KC, k - k0);
                PackA(ap, transA, a, lda, i0, mc, k0, kc);
                PackB(bp, transB, b, ldb, j0, ncols, k0, kc);
                bool acc = accumulate || k0 > 0;
                for (int jp = 0; jp < nPanels; jp++)
                {
                    int nr = Math.Min(NR, ncols - jp * NR);
                    for (int ip = 0; ip < mPanels; ip++)
                    {
                        int mr = Math.Min(MR, mc - ip * MR);
                        T* cTile = c + (long)(i0 + ip * MR) * ldc + j0 + jp * NR;
                        MicroKernel(kc, ap + ip * MR * kc, bp + jp * NR * kc, cTile, ldc, mr, nr, acc);
                    }
                }
            }
        }
    }

    // packed A: panel ip holds, for p in [0,kc), the MR values op(A)[i0+ip*MR+r, k0+p] (zero padded)
    static void PackA(T* dst, bool transA, T* a, int lda, int i0, int mc, int k0, int kc)
    {
        for (int ip = 0; ip * MR < mc; ip++)
        {
            int rows = Math.Min(MR, mc - ip * MR);
            T* panel = dst + ip * MR * kc;
            if (transA && rows == MR)
            {
                // op(A) = A^T: the MR values of one k are contiguous in memory
                T* src = a + (long)k0 * lda + i0 + ip * MR;
                for (int p = 0; p < kc; p++, src += lda)
                    for (int r = 0; r < MR; r++) panel[p * MR + r] = src[r];
                continue;
            }
            for (int r = 0; r < MR; r++)
            {
                if (r >= rows) { for (int p = 0; p < kc; p++) panel[p * MR + r] = T.Zero; continue; }
                int i = i0 + ip * MR + r;
                if (!transA)
                {
                    T* src = a + (long)i * lda + k0;
                    for (int p = 0; p < kc; p++) panel[p * MR + r] = src[p];
                }
                else
                {
                    T* src = a + (long)k0 * lda + i;
                    for (int p = 0; p < kc; p++) panel[p * MR + r] = src[(long)p * lda];
                }
            }
        }
    }

    // packed B: panel jp holds, for p in [0,kc), the NR values op(B)[k0+p, j0+jp*NR+q] (zero padded)
    static void PackB(T* dst, bool transB, T* b, int ldb, int j0, int ncols, int k0, int kc)
    {
        int nr = NR;
        for (int jp = 0; jp * nr < ncols; jp++)
        {
            int cols = Math.Min(nr, ncols - jp * nr);
            T* panel = dst + jp * nr * kc;
            if (!transB)
            {
                for (int p = 0; p < kc; p++)
                {
                    T* src = b + (long)(k0 + p) * ldb + j0 + jp * nr;
                    T* row = panel + p * nr;
                    if (cols == nr) new ReadOnlySpan<T>(src, nr).CopyTo(new Span<T>(row, nr));
                    else
                    {
                        for (int q = 0; q < cols; q++) row[q] = src[q];
                        for (int q = cols; q < nr; q++) row[q] = T.Zero;
                    }
                }
            }
            else
            {
                for (int q = 0; q < nr; q++)
                {
                    if (q >= cols) { for (int p = 0; p < kc; p++) panel[p * nr + q] = T.Zero; continue; }
                    T* src = b + (long)(j0 + jp * nr + q) * ldb + k0;
                    for (int p = 0; p < kc; p++) panel[p * nr + q] = src[p];
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<T> Fma(Vector256<T> a, Vector256<T> b, Vector256<T> c)
    {
        if (typeof(T) == typeof(float))
            return Vector256.FusedMultiplyAdd(a.As<T, float>(), b.As<T, float>(), c.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double))
            return Vector256.FusedMultiplyAdd(a.As<T, double>(), b.As<T, double>(), c.As<T, double>()).As<double, T>();
        return a * b + c;
    }

    static void MicroKernel(int kc, T* pa, T* pb, T* c, int ldc, int mr, int nr, bool accumulate)
    {
        int w = W;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(pb);
            var b1 = Vector256.Load(pb + w);
            var a0 = Vector256.Create(pa[0]); c00 = Fma(a0, b0, c00); c01 = Fma(a0, b1, c01);
            var a1 = Vector256.Create(pa[1]); c10 = Fma(a1, b0, c10); c11 = Fma(a1, b1, c11);
            var a2 = Vector256.Create(pa[2]); c20 = Fma(a2, b0, c20); c21 = Fma(a2, b1, c21);
            var a3 = Vector256.Create(pa[3]); c30 = Fma(a3, b0, c30); c31 = Fma(a3, b1, c31);
            var a4 = Vector256.Create(pa[4]); c40 = Fma(a4, b0, c40); c41 = Fma(a4, b1, c41);
            var a5 = Vector256.Create(pa[5]); c50 = Fma(a5, b0, c50); c51 = Fma(a5, b1, c51);
            pa += MR;
            pb += 2 * w;
        }
        if (mr == MR && nr == 2 * w)
        {
            Store(c, c00, c01, accumulate, w);
            Store(c + ldc, c10, c11, accumulate, w);
            Store(c + 2 * ldc, c20, c21, accumulate, w);
            Store(c + 3 * ldc, c30, c31, accumulate, w);
            Store(c + 4 * ldc, c40, c41, accumulate, w);
            Store(c + 5 * ldc, c50, c51, accumulate, w);
            return;
        }
        T* tile = stackalloc T[MR * 2 * Vector256<T>.Count];
        int nrFull = 2 * w;
        c00.Store(tile); c01.Store(tile + w);
        c10.Store(tile + nrFull); c11.Store(tile + nrFull + w);
        c20.Store(tile + 2 * nrFull); c21.Store(tile + 2 * nrFull + w);
        c30.Store(tile + 3 * nrFull); c31.Store(tile + 3 * nrFull + w);
        c40.Store(tile + 4 * nrFull); c41.Store(tile + 4 * nrFull + w);
        c50.Store(tile + 5 * nrFull); c51.Store(tile + 5 * nrFull + w);
        for (int r = 0; r < mr; r++)
        {
            T* row = c + (long)r * ldc;
            for (int q = 0; q < nr; q++)
                row[q] = accumulate ? row[q] + tile[r * nrFull + q] : tile[r * nrFull + q];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(T* c, Vector256<T> v0, Vector256<T> v1, bool accumulate, int w)
    {
        if (accumulate)
        {
            v0 += Vector256.Load(c);
            v1 += Vector256.Load(c + w);
        }
        v0.Store(c);
        v1.Store(c + w);
    }
}
