using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;

using static RawFlipFlop.Kernels.Cpu.VectorFma;

namespace RawFlipFlop.Kernels.Cpu;

/// <summary>
/// The building blocks of the flash attention: register-blocked tile products on operands read in place (no
/// packing: the attention's tiles are too small for a general GEMM's packing to pay), a vector exp, and the
/// dropout keep factors of a row segment.
/// </summary>
public sealed unsafe partial class CpuOps<T>
{
    /// <summary>Rows of the tile product's register block (6 rows by 2 vectors: 12 accumulators).</summary>
    const int PanelRows = 6;

    /// <summary>Columns of the tile product's register block: 16 floats, 8 doubles.</summary>
    static int PanelCols => 2 * Vector256<T>.Count;

    /// <summary>Which part of a diagonal tile (query block = key block) a product needs; causal zeros are skipped.</summary>
    enum Causal
    {
        /// <summary>The whole tile.</summary>
        None,
        /// <summary>Rows are queries, columns keys: row i needs columns j &lt;= i only.</summary>
        ColumnsUpToRow,
        /// <summary>Rows are queries, the reduction runs over keys: row i sums k &lt;= i only.</summary>
        ReductionUpToRow,
        /// <summary>Rows are keys, the reduction runs over queries: row j sums k &gt;= j only.</summary>
        ReductionFromRow,
    }

    /// <summary>
    /// c (m, n) (+)= A (m, k) B (k, n) with A's element (r, p) at a[r*aRow + p*aK] (so A or its transpose, read in
    /// place), B row p at b + p*ldb and n a multiple of <see cref="PanelCols"/>. causal trims each register block's
    /// columns or reduction range on a diagonal tile (see <see cref="Causal"/>); entries it skips must be zero.
    /// </summary>
    static void TileProduct(int m, int n, int k, T* a, nint aRow, nint aK, T* b, nint ldb, T* c, nint ldc, bool accumulate, Causal causal)
    {
        int w2 = PanelCols;
        for (int r0 = 0; r0 < m; r0 += PanelRows)
        {
            int rows = Math.Min(PanelRows, m - r0), end = r0 + rows;
            int kStart = causal == Causal.ReductionFromRow ? r0 : 0;
            int kEnd = causal == Causal.ReductionUpToRow ? Math.Min(k, end) : k;
            int nEnd = causal == Causal.ColumnsUpToRow ? Math.Min(n, (end + w2 - 1) / w2 * w2) : n;
            for (int q0 = 0; q0 < nEnd; q0 += w2)
            {
                T* ap = a + r0 * aRow + kStart * aK, bp = b + kStart * ldb + q0, cp = c + r0 * ldc + q0;
                // a 64-row tile ends in a 4-row block: the 4-row kernel skips the 6-row one's 2 wasted rows
                if (rows == 4) Panel4(kEnd - kStart, ap, aRow, aK, bp, ldb, cp, ldc, accumulate);
                else Panel(rows, kEnd - kStart, ap, aRow, aK, bp, ldb, cp, ldc, accumulate);
            }
        }
    }


    /// <summary>
    /// The register block: c (rows, 2 vectors) (+)= sum over p &lt; kc of A(r, p) B(p, :), rows &lt;= 6. Rows past
    /// `rows` repeat the last real row (so their loads stay inside A) and are not stored.
    /// </summary>
    static void Panel(int rows, int kc, T* a, nint aRow, nint aK, T* b, nint ldb, T* c, nint ldc, bool accumulate)
    {
        int w = Vector256<T>.Count;
        T* a0 = a, a1 = a + Math.Min(1, rows - 1) * aRow, a2 = a + Math.Min(2, rows - 1) * aRow;
        T* a3 = a + Math.Min(3, rows - 1) * aRow, a4 = a + Math.Min(4, rows - 1) * aRow, a5 = a + Math.Min(5, rows - 1) * aRow;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<T> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        nint off = 0;
        for (int p = 0; p < kc; p++, off += aK, b += ldb)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + w);
            var x = Vector256.Create(a0[off]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector256.Create(a1[off]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector256.Create(a2[off]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector256.Create(a3[off]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
            x = Vector256.Create(a4[off]); c40 = Fma(x, b0, c40); c41 = Fma(x, b1, c41);
            x = Vector256.Create(a5[off]); c50 = Fma(x, b0, c50); c51 = Fma(x, b1, c51);
        }
        Store(c, c00, c01, accumulate);
        if (rows > 1) Store(c + ldc, c10, c11, accumulate);
        if (rows > 2) Store(c + 2 * ldc, c20, c21, accumulate);
        if (rows > 3) Store(c + 3 * ldc, c30, c31, accumulate);
        if (rows > 4) Store(c + 4 * ldc, c40, c41, accumulate);
        if (rows > 5) Store(c + 5 * ldc, c50, c51, accumulate);
    }

    /// <summary>The 4-row register block: c (4, 2 vectors) (+)= sum over p &lt; kc of A(r, p) B(p, :).</summary>
    static void Panel4(int kc, T* a, nint aRow, nint aK, T* b, nint ldb, T* c, nint ldc, bool accumulate)
    {
        int w = Vector256<T>.Count;
        T* a0 = a, a1 = a + aRow, a2 = a + 2 * aRow, a3 = a + 3 * aRow;
        Vector256<T> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        nint off = 0;
        for (int p = 0; p < kc; p++, off += aK, b += ldb)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + w);
            var x = Vector256.Create(a0[off]); c00 = Fma(x, b0, c00); c01 = Fma(x, b1, c01);
            x = Vector256.Create(a1[off]); c10 = Fma(x, b0, c10); c11 = Fma(x, b1, c11);
            x = Vector256.Create(a2[off]); c20 = Fma(x, b0, c20); c21 = Fma(x, b1, c21);
            x = Vector256.Create(a3[off]); c30 = Fma(x, b0, c30); c31 = Fma(x, b1, c31);
        }
        Store(c, c00, c01, accumulate);
        Store(c + ldc, c10, c11, accumulate);
        Store(c + 2 * ldc, c20, c21, accumulate);
        Store(c + 3 * ldc, c30, c31, accumulate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Store(T* c, Vector256<T> v0, Vector256<T> v1, bool accumulate)
    {
        int w = Vector256<T>.Count;
        if (accumulate)
        {
            v0 += Vector256.Load(c);
            v1 += Vector256.Load(c + w);
        }
        v0.Store(c);
        v1.Store(c + w);
    }

    /// <summary>exp per lane: <see cref="ExpSingle"/> for float (the library's exp costs several times more), the library's for double.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<T> Exp(Vector256<T> x)
    {
        if (typeof(T) == typeof(float)) return ExpSingle(x.As<T, float>()).As<float, T>();
        if (typeof(T) == typeof(double)) return Vector256.Exp(x.As<T, double>()).As<double, T>();
        throw new NotSupportedException(typeof(T).Name);
    }

    /// <summary>
    /// exp(x) in single precision (Cephes expf: about 1 ulp), 0 below -87.3 (so exp(-inf) = 0): x = n ln2 + r with
    /// |r| &lt;= ln2/2 (ln2 in two parts), a degree-6 polynomial for exp(r), and 2^n put into the exponent bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> ExpSingle(Vector256<float> x)
    {
        var underflow = Vector256.LessThan(x, Vector256.Create(-87.33654f));
        x = Vector256.MinNative(x, Vector256.Create(88f));
        // round x log2(e) to the nearest integer n by adding 1.5 * 2^23: n sits in the low mantissa bits
        var shifter = Vector256.Create(12582912f);
        var t = Vector256.FusedMultiplyAdd(x, Vector256.Create(1.44269504088896341f), shifter);
        var n = t - shifter;
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        var y = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        var scale = (Vector256.ShiftLeft(t.AsInt32(), 23) + Vector256.Create(127 << 23)).AsSingle();
        return Vector256.AndNot(y * scale, underflow.AsSingle());
    }

    /// <summary>
    /// keep (n) = the dropout factors of row i of head row bh at keys j0..j0+n-1: 1/(1-p) where kept, 0 where
    /// dropped. Element (i,j) is mask element (bh*T + i)*T + j, as in the kernels.
    /// </summary>
    static void KeepFactors(T* keep, int n, DropoutSpec spec, int bh, int t, int i, int j0)
    {
        T scale = T.One / T.CreateTruncating(1.0 - spec.P);
        uint k0 = (uint)spec.Seed, k1 = (uint)(spec.Seed >> 32), s0 = (uint)spec.Stream, s1 = (uint)(spec.Stream >> 32);
        ulong first = ((ulong)bh * (ulong)t + (ulong)i) * (ulong)t + (ulong)j0;
        uint x0 = 0, x1 = 0, x2 = 0, x3 = 0;
        for (int j = 0; j < n; j++)
        {
            ulong index = first + (ulong)j;
            if (j == 0 || (index & 3) == 0) (x0, x1, x2, x3) = Philox.Block((uint)(index >> 2), s0, s1, RandomDomain.Dropout, k0, k1);
            uint word = (index & 3) switch { 0 => x0, 1 => x1, 2 => x2, _ => x3 };
            keep[j] = Philox.ToUnitFloat(word) < spec.P ? T.Zero : scale;
        }
    }
}
