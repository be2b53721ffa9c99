using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static RawFlipFlop.Kernels.Cpu.VectorFma;

namespace RawFlipFlop.Kernels.Cpu;

/// <summary>Which register-blocked micro-kernel <see cref="Gemm{T}"/> multiplies with.</summary>
public enum GemmKernel
{
    /// <summary>Vector512 where the hardware accelerates it, else Vector256.</summary>
    Auto,
    /// <summary>6 rows x 2 Vector256 (AVX2: 12 of the 16 ymm registers accumulate).</summary>
    Vector256,
    /// <summary>14 rows x 2 Vector512 (AVX-512: 28 of the 32 zmm registers accumulate). Emulated, slowly, without AVX-512.</summary>
    Vector512,
}

/// <summary>
/// General matrix multiply on the CPU: C (M,N) [+]= op(A) (M,K) op(B) (K,N), op = identity or transpose.
/// Blocked like BLIS: op(B) is packed once into NR-column panels per KC block and shared by every task; each task
/// owns a fixed (MC rows, NCT columns) tile of C, packs its MC x KC block of op(A) into MR-row panels (kept in L2)
/// and runs a register-blocked micro-kernel over it, one KC x NR panel of B (kept in L1) at a time.
/// Every element of C is reduced in the same order whatever the kernel width or thread count: per KC block of k,
/// a sum from zero by sequential fused multiply-adds, added to C block after block. So the result is bit-reproducible
/// and the Vector256 and Vector512 kernels give the same bits.
/// </summary>
public static unsafe class Gemm<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    // The k block fixes the summation order (see above), so it is the same for both kernels; never tie it to the
    // hardware. 256: a 6 x 16-float B panel (16 KiB) fits a 32 KiB L1 with room for the A panel and C tile.
    const int KC = 256;

    // Vector256 (AVX2, 16 ymm): 6 x 2 vectors = 12 accumulators + 2 B vectors + 1 broadcast A, the classic
    // Haswell/Zen blocking; each k step issues 12 FMAs against 8 loads, within Zen 3's 2 FMA + 3 load ports.
    const int MR256 = 6;
    // Vector512 (AVX-512, 32 zmm): 14 x 2 vectors = 28 accumulators + 2 B vectors, A broadcast folded into the FMA
    // ({1to16} memory operand) or held in the last 2 registers. NR = 32 floats divides the model widths (512, 1536,
    // 2048) so no column edge tiles; 28 independent chains cover 2 pipes x 4-cycle FMA latency many times over.
    // 8 x 3 vectors (24 accumulators, 11 loads per 24 FMAs) was the alternative; it has NR = 48, which leaves
    // edge tiles at every power-of-two width.
    const int MR512 = 14;

    // Rows of C per task: an MC x KC block of packed A (96 KiB / 112 KiB floats) stays in a 512 KiB+ L2 while the
    // micro-kernel sweeps the B panels. A multiple of MR.
    const int MC256 = 16 * MR256;
    const int MC512 = 8 * MR512;
    // Tasks wanted per call: enough for a few cores to balance; a function of the shape only (never of the core count).
    const int MinTasks = 16;
    // Values of packed B held at once: 16 MiB of floats, half the L3 of the machines this was tuned on.
    const long PackBudget = 4L << 20;

    [ThreadStatic] static T[]? t_packA;
    [ThreadStatic] static T[]? t_packB;

    /// <summary>
    /// c (M,N), row stride ldc. A is (M,K) with row stride lda, or (K,M) when transA. B is (K,N) with row
    /// stride ldb, or (N,K) when transB. accumulate: C += product, else C = product.
    /// parallel: split the work over cores (leave false when the caller already runs in parallel).
    /// </summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k,
        T* a, int lda, T* b, int ldb, T* c, int ldc, bool accumulate, bool parallel = true) =>
        Multiply(GemmKernel.Auto, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, parallel);

    /// <summary>As above with the micro-kernel chosen (tests run the Vector512 kernel on AVX2 machines too).</summary>
    public static void Multiply(GemmKernel kernel, bool transA, bool transB, int m, int n, int k,
        T* a, int lda, T* b, int ldb, T* c, int ldc, bool accumulate, bool parallel = true) =>
        Multiply(kernel, transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate, parallel, PackBudget);

    /// <summary>packBudget: values of packed B held at once (tests shrink it to cut k into several groups).</summary>
    internal static void Multiply(GemmKernel kernel, bool transA, bool transB, int m, int n, int k,
        T* a, int lda, T* b, int ldb, T* c, int ldc, bool accumulate, bool parallel, long packBudget)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0)
        {
            if (!accumulate)
                for (int i = 0; i < m; i++) new Span<T>(c + (long)i * ldc, n).Clear();
            return;
        }
        bool wide = kernel == GemmKernel.Vector512 || (kernel == GemmKernel.Auto && Vector512.IsHardwareAccelerated);
        int mr = wide ? MR512 : MR256, nr = 2 * (wide ? Vector512<T>.Count : Vector256<T>.Count);
        int mc = wide ? MC512 : MC256;
        int kBlocks = (k + KC - 1) / KC, nPanels = (n + nr - 1) / nr;
        bool useThreads = parallel && Environment.ProcessorCount > 1 && (long)m * n * k >= 1 << 18;

        // Tasks: C in (mc rows, nct columns) tiles. Threaded, nct is cut so there are about MinTasks tiles (each
        // tile repacks its A block, so no finer); serial, one column tile. The tiling never changes the bits.
        int mBlocks = (m + mc - 1) / mc;
        int nSplit = !useThreads ? 1 : Math.Min(nPanels, Math.Max(1, (MinTasks + mBlocks - 1) / mBlocks));
        int panelsPerTask = (nPanels + nSplit - 1) / nSplit;
        int nBlocks = (nPanels + panelsPerTask - 1) / panelsPerTask;
        int tasks = mBlocks * nBlocks;
        // op(B) is packed a group of k blocks at a time, at most PackBudget values (so a long reduction, the weight
        // gradient's, neither holds a copy of all of B nor spills it from L3). Groups run in k order, so every C
        // element still takes its k blocks in order. Packed layout: for k block kb of the group and panel jp,
        // KC x NR values at ((kb * nPanels + jp) * KC * NR), row p holding op(B)[k0 + p, jp*NR + q], zero padded.
        long blockSize = (long)nPanels * KC * nr;
        int groupBlocks = (int)Math.Clamp(packBudget / blockSize, 1, kBlocks);
        long bSize = groupBlocks * blockSize;
        if (t_packB != null && t_packB.LongLength < bSize) t_packB = null; // drop the old one before allocating
        var packB = t_packB ??= GC.AllocateArray<T>((int)checked(bSize), pinned: true);
        // B packing in jobs of 16 panels of one k block
        const int PackChunk = 16;
        int packChunks = (nPanels + PackChunk - 1) / PackChunk;
        fixed (T* bpFixed = packB)
        {
            nint pa = (nint)a, pb = (nint)b, pc = (nint)c, bp = (nint)bpFixed;
            for (int kb0 = 0; kb0 < kBlocks; kb0 += groupBlocks)
            {
                int kb1 = Math.Min(kBlocks, kb0 + groupBlocks), first = kb0;
                Action<int> pack = job =>
                {
                    int kb = first + job / packChunks, j0 = job % packChunks * PackChunk, j1 = Math.Min(nPanels, j0 + PackChunk);
                    int k0 = kb * KC, kc = Math.Min(KC, k - k0);
                    T* block = (T*)bp + (kb - first) * blockSize;
                    for (int jp = j0; jp < j1; jp++)
                        PackB(block + (long)jp * KC * nr, nr, transB, (T*)pb, ldb, jp * nr, Math.Min(nr, n - jp * nr), k0, kc);
                };
                Action<int> multiply = task =>
                    Block(task / nBlocks, task % nBlocks, wide, mr, nr, mc, panelsPerTask, nPanels, transA, m, n, k,
                        first, kb1, (T*)pa, lda, (T*)bp, (T*)pc, ldc, accumulate);
                int packJobs = (kb1 - kb0) * packChunks;
                if (!useThreads)
                {
                    for (int job = 0; job < packJobs; job++) pack(job);
                    for (int task = 0; task < tasks; task++) multiply(task);
                }
                else
                {
                    Parallel.For(0, packJobs, pack);
                    Parallel.For(0, tasks, multiply);
                }
            }
        }
    }

    // One task: C rows [mb*mc, +mc), panels [nb*panelsPerTask, +panelsPerTask), k blocks [kb0, kb1) (packed B holds
    // those blocks from its start).
    static void Block(int mb, int nb, bool wide, int mr, int nr, int mc, int panelsPerTask, int nPanels, bool transA,
        int m, int n, int k, int kb0, int kb1, T* a, int lda, T* packedB, T* c, int ldc, bool accumulate)
    {
        int i0 = mb * mc, rows = Math.Min(mc, m - i0);
        int jp0 = nb * panelsPerTask, jp1 = Math.Min(nPanels, jp0 + panelsPerTask);
        int mPanels = (rows + mr - 1) / mr;
        // + slack for PackA's whole-vector stores
        t_packA ??= GC.AllocateArray<T>(KC * (Math.Max(MC256, MC512) + MR512) + 64, pinned: true);
        fixed (T* ap = t_packA)
        {
            for (int kb = kb0; kb < kb1; kb++)
            {
                int k0 = kb * KC, kc = Math.Min(KC, k - k0);
                PackA(ap, mr, transA, a, lda, m, i0, rows, k0, kc);
                bool acc = accumulate || k0 > 0;
                T* bBlock = packedB + (long)(kb - kb0) * nPanels * KC * nr;
                for (int jp = jp0; jp < jp1; jp++)
                {
                    int cols = Math.Min(nr, n - jp * nr);
                    T* bPanel = bBlock + (long)jp * KC * nr;
                    for (int ip = 0; ip < mPanels; ip++)
                    {
                        int r = Math.Min(mr, rows - ip * mr);
                        T* cTile = c + (long)(i0 + ip * mr) * ldc + jp * nr;
                        if (wide) MicroKernel512(kc, ap + ip * mr * kc, bPanel, cTile, ldc, r, cols, acc);
                        else MicroKernel256(kc, ap + ip * mr * kc, bPanel, cTile, ldc, r, cols, acc);
                    }
                }
            }
        }
    }

    // packed A: panel ip holds, for p in [0,kc), the mr values op(A)[i0+ip*mr+r, k0+p] (zero padded).
    // Panels are written in order and each write may run up to one vector past its mr values, into the next panel
    // (written later) or the buffer's slack; m bounds the reads.
    static void PackA(T* dst, int mr, bool transA, T* a, int lda, int m, int i0, int rows, int k0, int kc)
    {
        int w = Vector256<T>.Count, mrUp = (mr + w - 1) / w * w;
        for (int ip = 0; ip * mr < rows; ip++)
        {
            int pr = Math.Min(mr, rows - ip * mr), row0 = i0 + ip * mr;
            T* panel = dst + ip * mr * kc;
            if (transA)
            {
                // op(A) = A^T: the mr values of one k are contiguous in memory; copy them by whole vectors
                T* src = a + (long)k0 * lda + row0;
                if (pr == mr && row0 + mrUp <= m)
                    for (int p = 0; p < kc; p++, src += lda)
                        for (int r = 0; r < mr; r += w) Vector256.Store(Vector256.Load(src + r), panel + p * mr + r);
                else
                    for (int p = 0; p < kc; p++, src += lda)
                        for (int r = 0; r < mr; r++) panel[p * mr + r] = r < pr ? src[r] : T.Zero;
                continue;
            }
            int p0 = 0;
            if (typeof(T) == typeof(float) && pr == mr && Avx.IsSupported)
                p0 = PackRowsTransposed((float*)panel, (float*)(a + (long)row0 * lda + k0), lda, kc, mr);
            for (int r = 0; r < mr; r++)
            {
                T* d = panel + p0 * mr + r;
                if (r >= pr) { for (int p = p0; p < kc; p++, d += mr) *d = T.Zero; continue; }
                T* src = a + (long)(row0 + r) * lda + k0;
                for (int p = p0; p < kc; p++, d += mr) *d = src[p];
            }
        }
    }

    /// <summary>
    /// panel (kc, mr) = the transpose of mr (6 or 14) rows (mr, kc) at stride lda, 8 k at a time by 8 x 8 AVX
    /// transposes of 8-row groups (missing rows are zero). Each 8-float result is stored over the first 2 values of the
    /// one after it, so stores go in order. Returns the k done.
    /// </summary>
    static int PackRowsTransposed(float* panel, float* src, int lda, int kc, int mr)
    {
        int p = 0;
        for (; p + 8 <= kc; p += 8)
        {
            float* s = src + p;
            Transpose8(s, lda, 6 < mr ? 8 : 6, out var a0, out var a1, out var a2, out var a3, out var a4, out var a5, out var a6, out var a7);
            float* d = panel + p * mr;
            if (mr == 6)
            {
                Avx.Store(d, a0); Avx.Store(d + 6, a1); Avx.Store(d + 12, a2); Avx.Store(d + 18, a3);
                Avx.Store(d + 24, a4); Avx.Store(d + 30, a5); Avx.Store(d + 36, a6); Avx.Store(d + 42, a7);
                continue;
            }
            Transpose8(s + 8 * lda, lda, mr - 8, out var b0, out var b1, out var b2, out var b3, out var b4, out var b5, out var b6, out var b7);
            Avx.Store(d, a0); Avx.Store(d + 8, b0); d += mr;
            Avx.Store(d, a1); Avx.Store(d + 8, b1); d += mr;
            Avx.Store(d, a2); Avx.Store(d + 8, b2); d += mr;
            Avx.Store(d, a3); Avx.Store(d + 8, b3); d += mr;
            Avx.Store(d, a4); Avx.Store(d + 8, b4); d += mr;
            Avx.Store(d, a5); Avx.Store(d + 8, b5); d += mr;
            Avx.Store(d, a6); Avx.Store(d + 8, b6); d += mr;
            Avx.Store(d, a7); Avx.Store(d + 8, b7);
        }
        return p;
    }

    // c_j = (row 0 [j], ..., row 7 [j]) for j < 8, rows at stride lda, rows past `rows` taken as zero
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Transpose8(float* s, int lda, int rows, out Vector256<float> c0, out Vector256<float> c1,
        out Vector256<float> c2, out Vector256<float> c3, out Vector256<float> c4, out Vector256<float> c5,
        out Vector256<float> c6, out Vector256<float> c7)
    {
        var r0 = Avx.LoadVector256(s); var r1 = Avx.LoadVector256(s + lda); var r2 = Avx.LoadVector256(s + 2 * lda);
        var r3 = Avx.LoadVector256(s + 3 * lda); var r4 = Avx.LoadVector256(s + 4 * lda); var r5 = Avx.LoadVector256(s + 5 * lda);
        var r6 = rows > 6 ? Avx.LoadVector256(s + 6 * lda) : Vector256<float>.Zero;
        var r7 = rows > 7 ? Avx.LoadVector256(s + 7 * lda) : Vector256<float>.Zero;
        // interleave pairs, then quads, then swap 128-bit halves
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        c0 = Avx.Permute2x128(u0, u4, 0x20); c1 = Avx.Permute2x128(u1, u5, 0x20);
        c2 = Avx.Permute2x128(u2, u6, 0x20); c3 = Avx.Permute2x128(u3, u7, 0x20);
        c4 = Avx.Permute2x128(u0, u4, 0x31); c5 = Avx.Permute2x128(u1, u5, 0x31);
        c6 = Avx.Permute2x128(u2, u6, 0x31); c7 = Avx.Permute2x128(u3, u7, 0x31);
    }

    // one packed B panel: for p in [0,kc), the nr values op(B)[k0+p, j0+q] (zero padded past cols)
    static void PackB(T* panel, int nr, bool transB, T* b, int ldb, int j0, int cols, int k0, int kc)
    {
        if (!transB)
        {
            T* src = b + (long)k0 * ldb + j0;
            for (int p = 0; p < kc; p++, src += ldb)
            {
                T* row = panel + p * nr;
                if (cols == nr) // nr is a whole number of Vector256: copy by vectors, not a memmove call per row
                    for (int q = 0; q < nr; q += Vector256<T>.Count) Vector256.Store(Vector256.Load(src + q), row + q);
                else
                {
                    for (int q = 0; q < cols; q++) row[q] = src[q];
                    for (int q = cols; q < nr; q++) row[q] = T.Zero;
                }
            }
            return;
        }
        for (int q = 0; q < nr; q++)
        {
            T* d = panel + q;
            if (q >= cols) { for (int p = 0; p < kc; p++, d += nr) *d = T.Zero; continue; }
            T* src = b + (long)(j0 + q) * ldb + k0;
            for (int p = 0; p < kc; p++, d += nr) *d = src[p];
        }
    }

    // C tile (mr <= 6, nr <= 2 vectors) [+]= packed A panel (kc x 6) x packed B panel (kc x 2 vectors). The
    // accumulators are locals so RyuJIT keeps all 12 in ymm registers.
    static void MicroKernel256(int kc, T* pa, T* pb, T* c, int ldc, int mr, int nr, bool accumulate)
    {
        int w = Vector256<T>.Count;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        if (Sse.IsSupported)
            for (int r = 0; r < MR256; r++)
            {
                // the C tile is read after the loop; start fetching it now (a prefetch never faults past the edge)
                Sse.Prefetch0(c + (long)r * ldc);
                Sse.Prefetch0(c + (long)r * ldc + 2 * w - 1);
            }
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
            pa += MR256;
            pb += 2 * w;
        }
        if (mr == MR256 && nr == 2 * w)
        {
            Store(c, c00, c01, accumulate, w);
            Store(c + ldc, c10, c11, accumulate, w);
            Store(c + 2 * ldc, c20, c21, accumulate, w);
            Store(c + 3 * ldc, c30, c31, accumulate, w);
            Store(c + 4 * ldc, c40, c41, accumulate, w);
            Store(c + 5 * ldc, c50, c51, accumulate, w);
            return;
        }
        // edge tile: spill to a full tile and add the valid part
        int full = 2 * w;
        T* tile = stackalloc T[MR256 * 2 * Vector256<T>.Count];
        c00.Store(tile); c01.Store(tile + w);
        c10.Store(tile + full); c11.Store(tile + full + w);
        c20.Store(tile + 2 * full); c21.Store(tile + 2 * full + w);
        c30.Store(tile + 3 * full); c31.Store(tile + 3 * full + w);
        c40.Store(tile + 4 * full); c41.Store(tile + 4 * full + w);
        c50.Store(tile + 5 * full); c51.Store(tile + 5 * full + w);
        StoreEdge(tile, full, c, ldc, mr, nr, accumulate);
    }

    // C tile (mr <= 14, nr <= 2 vectors) [+]= packed A panel (kc x 14) x packed B panel (kc x 2 vectors).
    static void MicroKernel512(int kc, T* pa, T* pb, T* c, int ldc, int mr, int nr, bool accumulate)
    {
        int w = Vector512<T>.Count;
        Vector512<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        Vector512<T> c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default;
        Vector512<T> c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        Vector512<T> cc0 = default, cc1 = default, cd0 = default, cd1 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(pb);
            var b1 = Vector512.Load(pb + w);
            var a = Vector512.Create(pa[0]); c00 = Fma(a, b0, c00); c01 = Fma(a, b1, c01);
            a = Vector512.Create(pa[1]); c10 = Fma(a, b0, c10); c11 = Fma(a, b1, c11);
            a = Vector512.Create(pa[2]); c20 = Fma(a, b0, c20); c21 = Fma(a, b1, c21);
            a = Vector512.Create(pa[3]); c30 = Fma(a, b0, c30); c31 = Fma(a, b1, c31);
            a = Vector512.Create(pa[4]); c40 = Fma(a, b0, c40); c41 = Fma(a, b1, c41);
            a = Vector512.Create(pa[5]); c50 = Fma(a, b0, c50); c51 = Fma(a, b1, c51);
            a = Vector512.Create(pa[6]); c60 = Fma(a, b0, c60); c61 = Fma(a, b1, c61);
            a = Vector512.Create(pa[7]); c70 = Fma(a, b0, c70); c71 = Fma(a, b1, c71);
            a = Vector512.Create(pa[8]); c80 = Fma(a, b0, c80); c81 = Fma(a, b1, c81);
            a = Vector512.Create(pa[9]); c90 = Fma(a, b0, c90); c91 = Fma(a, b1, c91);
            a = Vector512.Create(pa[10]); ca0 = Fma(a, b0, ca0); ca1 = Fma(a, b1, ca1);
            a = Vector512.Create(pa[11]); cb0 = Fma(a, b0, cb0); cb1 = Fma(a, b1, cb1);
            a = Vector512.Create(pa[12]); cc0 = Fma(a, b0, cc0); cc1 = Fma(a, b1, cc1);
            a = Vector512.Create(pa[13]); cd0 = Fma(a, b0, cd0); cd1 = Fma(a, b1, cd1);
            pa += MR512;
            pb += 2 * w;
        }
        if (mr == MR512 && nr == 2 * w)
        {
            Store(c, c00, c01, accumulate, w); Store(c + ldc, c10, c11, accumulate, w);
            Store(c + 2 * ldc, c20, c21, accumulate, w); Store(c + 3 * ldc, c30, c31, accumulate, w);
            Store(c + 4 * ldc, c40, c41, accumulate, w); Store(c + 5 * ldc, c50, c51, accumulate, w);
            Store(c + 6 * ldc, c60, c61, accumulate, w); Store(c + 7 * ldc, c70, c71, accumulate, w);
            Store(c + 8 * ldc, c80, c81, accumulate, w); Store(c + 9 * ldc, c90, c91, accumulate, w);
            Store(c + 10 * ldc, ca0, ca1, accumulate, w); Store(c + 11 * ldc, cb0, cb1, accumulate, w);
            Store(c + 12 * ldc, cc0, cc1, accumulate, w); Store(c + 13 * ldc, cd0, cd1, accumulate, w);
            return;
        }
        int full = 2 * w;
        T* tile = stackalloc T[MR512 * 2 * Vector512<T>.Count];
        c00.Store(tile); c01.Store(tile + w); c10.Store(tile + full); c11.Store(tile + full + w);
        c20.Store(tile + 2 * full); c21.Store(tile + 2 * full + w); c30.Store(tile + 3 * full); c31.Store(tile + 3 * full + w);
        c40.Store(tile + 4 * full); c41.Store(tile + 4 * full + w); c50.Store(tile + 5 * full); c51.Store(tile + 5 * full + w);
        c60.Store(tile + 6 * full); c61.Store(tile + 6 * full + w); c70.Store(tile + 7 * full); c71.Store(tile + 7 * full + w);
        c80.Store(tile + 8 * full); c81.Store(tile + 8 * full + w); c90.Store(tile + 9 * full); c91.Store(tile + 9 * full + w);
        ca0.Store(tile + 10 * full); ca1.Store(tile + 10 * full + w); cb0.Store(tile + 11 * full); cb1.Store(tile + 11 * full + w);
        cc0.Store(tile + 12 * full); cc1.Store(tile + 12 * full + w); cd0.Store(tile + 13 * full); cd1.Store(tile + 13 * full + w);
        StoreEdge(tile, full, c, ldc, mr, nr, accumulate);
    }

    static void StoreEdge(T* tile, int full, T* c, int ldc, int mr, int nr, bool accumulate)
    {
        for (int r = 0; r < mr; r++)
        {
            T* row = c + (long)r * ldc;
            for (int q = 0; q < nr; q++)
                row[q] = accumulate ? row[q] + tile[r * full + q] : tile[r * full + q];
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(T* c, Vector512<T> v0, Vector512<T> v1, bool accumulate, int w)
    {
        if (accumulate)
        {
            v0 += Vector512.Load(c);
            v1 += Vector512.Load(c + w);
        }
        v0.Store(c);
        v1.Store(c + w);
    }
}
