using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

/// <summary>
/// The CPU twins of the tensor-core precisions (<see cref="MatmulPrecision"/>): the operands are rounded to TF32
/// exactly as cvt.rna.tf32.f32 rounds (<see cref="Tf32.Round"/>) and multiplied by the FP32 GEMM. A product of two
/// TF32 numbers is exact in FP32, so a twin differs from the tensor cores only in the order of the FP32 sums.
/// TF32: one product of the rounded operands. 3xTF32: a = hi + lo with hi = tf32(a), lo = tf32(a - hi), and
/// c = lo_a hi_b + hi_a lo_b + hi_a hi_b (the kernels' three MMAs, small terms first; lo lo is dropped).
/// Only float: double (the gradient checks) has no TF32 and refuses these modes.
/// </summary>
public sealed unsafe partial class CpuOps<T>
{
    /// <summary>c (M,N) [+]= op(a) op(b) in <paramref name="precision"/>; the arguments as <see cref="Gemm{T}.Multiply"/>'s.</summary>
    static void Multiply(MatmulPrecision precision, bool transA, bool transB, int m, int n, int k,
        T* a, int lda, T* b, int ldb, T* c, int ldc, bool accumulate)
    {
        if (precision == MatmulPrecision.Fp32)
        {
            Gemm<T>.Multiply(transA, transB, m, n, k, a, lda, b, ldb, c, ldc, accumulate);
            return;
        }
        RequireSingle(precision);
        if (m <= 0 || n <= 0) return;
        // The operands as stored: (rows, cols) with row stride ld; packed copies have row stride cols.
        int aRows = transA ? k : m, aCols = transA ? m : k, bRows = transB ? n : k, bCols = transB ? k : n;
        var (aHi, aLo) = Split(precision, (float*)a, lda, aRows, aCols);
        var (bHi, bLo) = Split(precision, (float*)b, ldb, bRows, bCols);
        fixed (float* ah = aHi, al = aLo, bh = bHi, bl = bLo)
        {
            var cf = (float*)c;
            if (precision == MatmulPrecision.Tf32x3)
            {
                Gemm<float>.Multiply(transA, transB, m, n, k, al, aCols, bh, bCols, cf, ldc, accumulate);
                Gemm<float>.Multiply(transA, transB, m, n, k, ah, aCols, bl, bCols, cf, ldc, accumulate: true);
                accumulate = true;
            }
            Gemm<float>.Multiply(transA, transB, m, n, k, ah, aCols, bh, bCols, cf, ldc, accumulate);
        }
    }

    /// <summary>
    /// The TF32 parts of x (rows, cols) with row stride ld, packed: hi = tf32(x), and for 3xTF32 lo = tf32(x - hi)
    /// (empty for TF32).
    /// </summary>
    static (float[] Hi, float[] Lo) Split(MatmulPrecision precision, float* x, int ld, int rows, int cols)
    {
        long count = (long)rows * cols;
        var hi = GC.AllocateUninitializedArray<float>(checked((int)count));
        var lo = precision == MatmulPrecision.Tf32x3 ? GC.AllocateUninitializedArray<float>((int)count) : [];
        nint source = (nint)x;
        ForChunks(rows, RowChunk, (s, e) =>
        {
            for (long r = s; r < e; r++)
            {
                float* row = (float*)source + r * ld;
                for (int j = 0; j < cols; j++)
                {
                    float h = Tf32.Round(row[j]);
                    hi[r * cols + j] = h;
                    if (lo.Length > 0) lo[r * cols + j] = Tf32.Round(row[j] - h);
                }
            }
        });
        return (hi, lo);
    }

    static void RequireSingle(MatmulPrecision precision)
    {
        if (typeof(T) != typeof(float))
            throw new NotSupportedException($"matmul precision {precision} needs float operands; CpuOps<{typeof(T).Name}> supports only {MatmulPrecision.Fp32}");
    }

    /// <summary>
    /// The interface's LSTM backward: the recurrence in FP32 (CpuOps.Lstm.cs) and dW_hh in <paramref name="precision"/>.
    /// The recurrence's own FP32 dW_hh GEMM then writes to a discarded buffer, and dW_hh (4H,H) += sum over
    /// (b, t>=1) of dz_t^T h_{t-1} is taken here, one GEMM per sequence as there.
    /// </summary>
    public void LstmBackward(Buf<T> dxproj, Buf<T> dwhh, Buf<T> dbhh, Buf<T> dh, Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> whh,
        int b, int t, int hidden, MatmulPrecision precision)
    {
        if (precision == MatmulPrecision.Fp32)
        {
            LstmBackward(dxproj, dwhh, dbhh, dh, h, cell, gates, whh, b, t, hidden);
            return;
        }
        RequireSingle(precision);
        int g4 = 4 * hidden;
        var discarded = Device.Allocate<T>((long)g4 * hidden);
        try
        {
            LstmBackward(dxproj, discarded, dbhh, dh, h, cell, gates, whh, b, t, hidden);
        }
        finally
        {
            Device.Free(discarded);
        }
        for (int bi = 0; bi < b; bi++)
            Multiply(precision, true, false, g4, hidden, t - 1, dxproj.Ptr + ((long)bi * t + 1) * g4, g4,
                h.Ptr + (long)bi * t * hidden, hidden, dwhh.Ptr, hidden, accumulate: true);
    }
}
