using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RawFlipFlop.Kernels.Devices;

using static RawFlipFlop.Kernels.Cpu.VectorFma;

namespace RawFlipFlop.Kernels.Cpu;

/// <summary>
/// The LSTM recurrence, fused: per time step the recurrent product of a group of batch rows with W_hh (packed once per
/// call into vector panels, 4H*H values that stay in each core's L2), then at once the gates and the cell update.
/// </summary>
public sealed unsafe partial class CpuOps<T>
{
    static T Sigmoid(T x) => T.One / (T.One + T.Exp(-x));

    static Vector256<float> SigmoidV(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + SpecialFunctions.Exp(-x));

    /// <summary>tanh as 1 - 2/(exp(2x)+1): absolute error of a few float ulps, saturates cleanly.</summary>
    static Vector256<float> TanhV(Vector256<float> x) =>
        Vector256<float>.One - Vector256.Create(2f) / (SpecialFunctions.Exp(x + x) + Vector256<float>.One);

    /// <summary>One gate pre-activation: z = (x W_ih^T + b_ih) + b_hh + h_{t-1} W_hh^T, the last term absent at t = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> PreActivation(float* xp, float* bh, float* acc, int j)
    {
        var z = Vector256.Load(xp + j) + Vector256.Load(bh + j);
        return acc != null ? Vector256.Load(acc + j) + z : z;
    }

    /// <summary>
    /// The gates and cell update of one row, 8 hidden units at a time; returns how many units it did.
    /// xp, bh: (4H) projected input and b_hh; acc: (4H) h_{t-1} W_hh^T or null at t = 0.
    /// </summary>
    static int GatesFloat(float* xp, float* bh, float* acc, float* gate, float* cPrev, float* cOut, float* hOut, int hidden)
    {
        int j = 0;
        for (; j + 8 <= hidden; j += 8)
        {
            var ig = SigmoidV(PreActivation(xp, bh, acc, j));
            var fg = SigmoidV(PreActivation(xp, bh, acc, hidden + j));
            var gg = TanhV(PreActivation(xp, bh, acc, 2 * hidden + j));
            var og = SigmoidV(PreActivation(xp, bh, acc, 3 * hidden + j));
            ig.Store(gate + j); fg.Store(gate + hidden + j); gg.Store(gate + 2 * hidden + j); og.Store(gate + 3 * hidden + j);
            var cv = ig * gg;
            if (cPrev != null) cv += fg * Vector256.Load(cPrev + j);
            cv.Store(cOut + j);
            (og * TanhV(cv)).Store(hOut + j);
        }
        return j;
    }

    static void Gates(T* xp, T* bh, T* acc, T* gate, T* cPrev, T* cOut, T* hOut, int hidden)
    {
        int j = 0;
        if (typeof(T) == typeof(float))
            j = GatesFloat((float*)xp, (float*)bh, (float*)acc, (float*)gate, (float*)cPrev, (float*)cOut, (float*)hOut, hidden);
        T Z(int i) => acc != null ? acc[i] + (xp[i] + bh[i]) : xp[i] + bh[i];
        for (; j < hidden; j++)
        {
            T ig = Sigmoid(Z(j)), fg = Sigmoid(Z(hidden + j)), gg = T.Tanh(Z(2 * hidden + j)), og = Sigmoid(Z(3 * hidden + j));
            gate[j] = ig; gate[hidden + j] = fg; gate[2 * hidden + j] = gg; gate[3 * hidden + j] = og;
            T cv = ig * gg + (cPrev != null ? fg * cPrev[j] : T.Zero);
            cOut[j] = cv;
            hOut[j] = og * T.Tanh(cv);
        }
    }

    /// <summary>
    /// Sequences are independent, so each group of batch rows runs its whole recurrence on one core: no
    /// synchronisation per time step. A row's arithmetic does not depend on its group, so neither do the bits.
    /// </summary>
    static int RowGroups(int b) => Math.Max(1, Math.Min(b, Environment.ProcessorCount));

    public void LstmForward(Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> xproj, Buf<T> whh, Buf<T> bhh, int b, int t, int hidden) =>
        LstmForward(h, cell, gates, xproj, whh, bhh, b, t, hidden, RowGroups(b));

    /// <summary>The forward with the batch rows split into <paramref name="groups"/> groups (tests vary it).</summary>
    internal void LstmForward(Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> xproj, Buf<T> whh, Buf<T> bhh, int b, int t, int hidden, int groups)
    {
        int g4 = 4 * hidden, g4p = PaddedToVector(g4);
        var packed = PackPanels(whh.Ptr, hidden, g4, transpose: true);  // W_hh^T (H, 4H) in panels
        Parallel.For(0, groups, group =>
        {
            int r0 = group * b / groups, r1 = (group + 1) * b / groups, rows = r1 - r0;
            var pre = GC.AllocateUninitializedArray<T>(rows * g4p, pinned: true);   // (rows,4H padded) h_{t-1} W_hh^T of one step
            fixed (T* wp = packed, z = pre)
                for (int step = 0; step < t; step++)
                {
                    if (step > 0)
                        RowTimesPanels(h.Ptr + ((long)r0 * t + step - 1) * hidden, (long)t * hidden, rows, hidden, wp, g4p, z, g4p);
                    for (int r = 0; r < rows; r++)
                    {
                        long row = (long)(r0 + r) * t + step;
                        Gates(xproj.Ptr + row * g4, bhh.Ptr, step > 0 ? z + r * g4p : null, gates.Ptr + row * g4,
                            step > 0 ? cell.Ptr + (row - 1) * hidden : null, cell.Ptr + row * hidden, h.Ptr + row * hidden, hidden);
                    }
                }
        });
    }

    static int GatesBackwardFloat(float* gate, float* dz, float* cv, float* dhv, float* cPrev, float* dhN, float* dcN, int hidden)
    {
        var one = Vector256<float>.One;
        int j = 0;
        for (; j + 8 <= hidden; j += 8)
        {
            var ig = Vector256.Load(gate + j); var fg = Vector256.Load(gate + hidden + j);
            var gg = Vector256.Load(gate + 2 * hidden + j); var og = Vector256.Load(gate + 3 * hidden + j);
            var tc = TanhV(Vector256.Load(cv + j));
            var dhTotal = Vector256.Load(dhv + j) + Vector256.Load(dhN + j);
            var dc = Vector256.Load(dcN + j) + dhTotal * og * (one - tc * tc);
            var cp = cPrev != null ? Vector256.Load(cPrev + j) : Vector256<float>.Zero;
            (dc * gg * ig * (one - ig)).Store(dz + j);
            (dc * cp * fg * (one - fg)).Store(dz + hidden + j);
            (dc * ig * (one - gg * gg)).Store(dz + 2 * hidden + j);
            (dhTotal * tc * og * (one - og)).Store(dz + 3 * hidden + j);
            (dc * fg).Store(dcN + j);
        }
        return j;
    }

    static void GatesBackward(T* gate, T* dz, T* cv, T* dhv, T* cPrev, T* dhN, T* dcN, int hidden)
    {
        int j = 0;
        if (typeof(T) == typeof(float))
            j = GatesBackwardFloat((float*)gate, (float*)dz, (float*)cv, (float*)dhv, (float*)cPrev, (float*)dhN, (float*)dcN, hidden);
        for (; j < hidden; j++)
        {
            T ig = gate[j], fg = gate[hidden + j], gg = gate[2 * hidden + j], og = gate[3 * hidden + j];
            T tc = T.Tanh(cv[j]);
            T dhTotal = dhv[j] + dhN[j];
            T dc = dcN[j] + dhTotal * og * (T.One - tc * tc);
            T cp = cPrev != null ? cPrev[j] : T.Zero;
            dz[j] = dc * gg * ig * (T.One - ig);
            dz[hidden + j] = dc * cp * fg * (T.One - fg);
            dz[2 * hidden + j] = dc * ig * (T.One - gg * gg);
            dz[3 * hidden + j] = dhTotal * tc * og * (T.One - og);
            dcN[j] = dc * fg;
        }
    }

    public void LstmBackward(Buf<T> dxproj, Buf<T> dwhh, Buf<T> dbhh, Buf<T> dh, Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> whh,
        int b, int t, int hidden) => LstmBackward(dxproj, dwhh, dbhh, dh, h, cell, gates, whh, b, t, hidden, RowGroups(b));

    /// <summary>The backward with the batch rows split into <paramref name="groups"/> groups (tests vary it).</summary>
    internal void LstmBackward(Buf<T> dxproj, Buf<T> dwhh, Buf<T> dbhh, Buf<T> dh, Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> whh,
        int b, int t, int hidden, int groups)
    {
        int g4 = 4 * hidden, hp = PaddedToVector(hidden);
        var packed = PackPanels(whh.Ptr, g4, hidden, transpose: false);  // W_hh (4H, H) in panels
        Parallel.For(0, groups, group =>
        {
            int r0 = group * b / groups, r1 = (group + 1) * b / groups, rows = r1 - r0;
            var dhNext = GC.AllocateArray<T>(rows * hp, pinned: true);     // (rows,H padded) gradient reaching h_t from step t+1
            var dcNext = GC.AllocateArray<T>(rows * hidden, pinned: true); // (rows,H) gradient reaching c_t from step t+1
            fixed (T* wp = packed, dhn = dhNext, dcn = dcNext)
                for (int step = t - 1; step >= 0; step--)
                {
                    for (int r = 0; r < rows; r++)
                    {
                        long row = (long)(r0 + r) * t + step;
                        GatesBackward(gates.Ptr + row * g4, dxproj.Ptr + row * g4, cell.Ptr + row * hidden, dh.Ptr + row * hidden,
                            step > 0 ? cell.Ptr + (row - 1) * hidden : null, dhn + r * hp, dcn + r * hidden, hidden);
                    }
                    // dh_{t-1} (rows,H) = dz_t (rows,4H) W_hh (4H,H)
                    if (step > 0)
                        RowTimesPanels(dxproj.Ptr + ((long)r0 * t + step) * g4, (long)t * g4, rows, g4, wp, hp, dhn, hp);
                }
        });
        // dW_hh (4H,H) += sum over (b, t>=1) dz_t^T h_{t-1}: one GEMM per sequence over its shifted rows.
        for (int bi = 0; bi < b; bi++)
            Gemm<T>.Multiply(true, false, g4, hidden, t - 1, dxproj.Ptr + ((long)bi * t + 1) * g4, g4,
                h.Ptr + (long)bi * t * hidden, hidden, dwhh.Ptr, hidden, accumulate: true);
        ColumnSums(dbhh, dxproj, (long)b * t, g4);
    }

    /// <summary>Vectors per panel of <see cref="RowTimesPanels"/>: 4 rows x 3 vectors of sums fill 12 of the 16 AVX registers.</summary>
    const int PanelVectors = 3;

    static int PaddedToVector(int n) => (n + Vector256<T>.Count - 1) / Vector256<T>.Count * Vector256<T>.Count;

    /// <summary>
    /// Packs the (K,N) matrix w (transpose: w^T, w being (N,K)) for <see cref="RowTimesPanels"/>: N padded with zeros to
    /// whole vectors and cut into panels of <see cref="PanelVectors"/> vectors (the last ones of one vector), each panel
    /// k-major, so that the product streams it in order.
    /// </summary>
    static T[] PackPanels(T* w, int k, int n, bool transpose)
    {
        int v = Vector256<T>.Count, np = PaddedToVector(n);
        var packed = GC.AllocateUninitializedArray<T>(k * np, pinned: true);
        fixed (T* p = packed)
            for (int c0 = 0, width; c0 < np; c0 += width)
            {
                width = np - c0 >= PanelVectors * v ? PanelVectors * v : v;
                T* panel = p + (long)c0 * k;
                for (int kk = 0; kk < k; kk++)
                    for (int q = 0; q < width; q++)
                    {
                        int col = c0 + q;
                        panel[kk * width + q] = col >= n ? T.Zero : transpose ? w[(long)col * k + kk] : w[(long)kk * n + col];
                    }
            }
        return packed;
    }

    /// <summary>
    /// c (rows, NP) = a (rows, K; row stride lda) times the (K, NP) matrix packed by <see cref="PackPanels"/>. Every element is
    /// one chain of fused multiply-adds in k order from zero, whatever the number of rows, so a row's result does not
    /// depend on which rows share its group or its tile of 4.
    /// </summary>
    static void RowTimesPanels(T* a, long lda, int rows, int k, T* packed, int np, T* c, int ldc)
    {
        int v = Vector256<T>.Count;
        for (int r0 = 0; r0 < rows; r0 += 4)
        {
            int mr = Math.Min(4, rows - r0);
            // a tile of fewer than 4 rows repeats its first row and drops the surplus sums
            T* a0 = a + r0 * lda;
            T* a1 = mr > 1 ? a0 + lda : a0, a2 = mr > 2 ? a0 + 2 * lda : a0, a3 = mr > 3 ? a0 + 3 * lda : a0;
            T* ct = c + (long)r0 * ldc;
            for (int c0 = 0; c0 < np;)
            {
                T* panel = packed + (long)c0 * k;
                if (np - c0 >= PanelVectors * v)
                {
                    Tile3(a0, a1, a2, a3, k, panel, ct + c0, ldc, mr);
                    c0 += PanelVectors * v;
                }
                else
                {
                    Tile1(a0, a1, a2, a3, k, panel, ct + c0, ldc, mr);
                    c0 += v;
                }
            }
        }
    }


    /// <summary>c (mr rows, 3 vectors) = 4 rows of a times one panel of 3 vectors.</summary>
    static void Tile3(T* a0, T* a1, T* a2, T* a3, int k, T* panel, T* c, int ldc, int mr)
    {
        int v = Vector256<T>.Count;
        Vector256<T> s00 = default, s01 = default, s02 = default, s10 = default, s11 = default, s12 = default;
        Vector256<T> s20 = default, s21 = default, s22 = default, s30 = default, s31 = default, s32 = default;
        for (int kk = 0; kk < k; kk++, panel += 3 * v)
        {
            var b0 = Vector256.Load(panel); var b1 = Vector256.Load(panel + v); var b2 = Vector256.Load(panel + 2 * v);
            var x = Vector256.Create(a0[kk]); s00 = Fma(x, b0, s00); s01 = Fma(x, b1, s01); s02 = Fma(x, b2, s02);
            x = Vector256.Create(a1[kk]); s10 = Fma(x, b0, s10); s11 = Fma(x, b1, s11); s12 = Fma(x, b2, s12);
            x = Vector256.Create(a2[kk]); s20 = Fma(x, b0, s20); s21 = Fma(x, b1, s21); s22 = Fma(x, b2, s22);
            x = Vector256.Create(a3[kk]); s30 = Fma(x, b0, s30); s31 = Fma(x, b1, s31); s32 = Fma(x, b2, s32);
        }
        s00.Store(c); s01.Store(c + v); s02.Store(c + 2 * v);
        if (mr > 1) { s10.Store(c + ldc); s11.Store(c + ldc + v); s12.Store(c + ldc + 2 * v); }
        if (mr > 2) { s20.Store(c + 2 * ldc); s21.Store(c + 2 * ldc + v); s22.Store(c + 2 * ldc + 2 * v); }
        if (mr > 3) { s30.Store(c + 3 * ldc); s31.Store(c + 3 * ldc + v); s32.Store(c + 3 * ldc + 2 * v); }
    }

    /// <summary>c (mr rows, 1 vector) = 4 rows of a times one panel of 1 vector.</summary>
    static void Tile1(T* a0, T* a1, T* a2, T* a3, int k, T* panel, T* c, int ldc, int mr)
    {
        int v = Vector256<T>.Count;
        Vector256<T> s0 = default, s1 = default, s2 = default, s3 = default;
        for (int kk = 0; kk < k; kk++, panel += v)
        {
            var b0 = Vector256.Load(panel);
            s0 = Fma(Vector256.Create(a0[kk]), b0, s0); s1 = Fma(Vector256.Create(a1[kk]), b0, s1);
            s2 = Fma(Vector256.Create(a2[kk]), b0, s2); s3 = Fma(Vector256.Create(a3[kk]), b0, s3);
        }
        s0.Store(c);
        if (mr > 1) s1.Store(c + ldc);
        if (mr > 2) s2.Store(c + 2 * ldc);
        if (mr > 3) s3.Store(c + 3 * ldc);
    }
}
