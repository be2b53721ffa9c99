using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

public sealed unsafe partial class CpuOps<T>
{
    static T Sigmoid(T x) => T.One / (T.One + T.Exp(-x));

    static Vector256<float> SigmoidV(Vector256<float> x) => Vector256<float>.One / (Vector256<float>.One + Vector256.Exp(-x));

    /// <summary>tanh as 1 - 2/(exp(2x)+1): absolute error of a few float ulps, saturates cleanly.</summary>
    static Vector256<float> TanhV(Vector256<float> x) =>
        Vector256<float>.One - Vector256.Create(2f) / (Vector256.Exp(x + x) + Vector256<float>.One);

    /// <summary>The gate and cell update of one row, 8 hidden units at a time; returns how many units it did.</summary>
    static int GatesFloat(float* z, float* gate, float* cPrev, float* cOut, float* hOut, int hidden)
    {
        int j = 0;
        for (; j + 8 <= hidden; j += 8)
        {
            var ig = SigmoidV(Vector256.Load(z + j));
            var fg = SigmoidV(Vector256.Load(z + hidden + j));
            var gg = TanhV(Vector256.Load(z + 2 * hidden + j));
            var og = SigmoidV(Vector256.Load(z + 3 * hidden + j));
            ig.Store(gate + j); fg.Store(gate + hidden + j); gg.Store(gate + 2 * hidden + j); og.Store(gate + 3 * hidden + j);
            var cv = ig * gg;
            if (cPrev != null) cv += fg * Vector256.Load(cPrev + j);
            cv.Store(cOut + j);
            (og * TanhV(cv)).Store(hOut + j);
        }
        return j;
    }

    /// <summary>
    /// Sequences are independent, so each group of batch rows runs its whole recurrence on one core: no
    /// synchronisation per time step. Every element is reduced in the same order whatever the grouping.
    /// </summary>
    static int RowGroups(int b) => Math.Max(1, Math.Min(b, Environment.ProcessorCount));

    public void LstmForward(Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> xproj, Buf<T> whh, Buf<T> bhh, int b, int t, int hidden)
    {
        int g4 = 4 * hidden, groups = RowGroups(b);
        Parallel.For(0, groups, group =>
        {
            int r0 = group * b / groups, r1 = (group + 1) * b / groups, rows = r1 - r0;
            var pre = GC.AllocateArray<T>(rows * g4, pinned: true);   // (rows,4H) gate pre-activations of one step
            fixed (T* z = pre)
                for (int step = 0; step < t; step++)
                {
                    // z = x W_ih^T + b_ih (given) + b_hh + h_{t-1} W_hh^T
                    for (int r = 0; r < rows; r++)
                        TensorPrimitives.Add(new ReadOnlySpan<T>(xproj.Ptr + ((long)(r0 + r) * t + step) * g4, g4),
                            new ReadOnlySpan<T>(bhh.Ptr, g4), new Span<T>(z + r * g4, g4));
                    if (step > 0)
                        Gemm<T>.Multiply(false, true, rows, g4, hidden, h.Ptr + ((long)r0 * t + step - 1) * hidden, t * hidden,
                            whh.Ptr, hidden, z, g4, accumulate: true, parallel: false);
                    for (int r = 0; r < rows; r++)
                    {
                        T* zz = z + r * g4;
                        long row = (long)(r0 + r) * t + step;
                        T* gate = gates.Ptr + row * g4;
                        T* cOut = cell.Ptr + row * hidden, hOut = h.Ptr + row * hidden;
                        T* cPrev = step > 0 ? cell.Ptr + (row - 1) * hidden : null;
                        int j = 0;
                        if (typeof(T) == typeof(float))
                            j = GatesFloat((float*)zz, (float*)gate, (float*)cPrev, (float*)cOut, (float*)hOut, hidden);
                        for (; j < hidden; j++)
                        {
                            T ig = Sigmoid(zz[j]), fg = Sigmoid(zz[hidden + j]), gg = T.Tanh(zz[2 * hidden + j]), og = Sigmoid(zz[3 * hidden + j]);
                            gate[j] = ig; gate[hidden + j] = fg; gate[2 * hidden + j] = gg; gate[3 * hidden + j] = og;
                            T cv = ig * gg + (cPrev != null ? fg * cPrev[j] : T.Zero);
                            cOut[j] = cv;
                            hOut[j] = og * T.Tanh(cv);
                        }
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

    public void LstmBackward(Buf<T> dxproj, Buf<T> dwhh, Buf<T> dbhh, Buf<T> dh, Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> whh,
        int b, int t, int hidden)
    {
        int g4 = 4 * hidden, groups = RowGroups(b);
        Parallel.For(0, groups, group =>
        {
            int r0 = group * b / groups, r1 = (group + 1) * b / groups, rows = r1 - r0;
            var dhNext = GC.AllocateArray<T>(rows * hidden, pinned: true);  // (rows,H) gradient reaching h_t from step t+1
            var dcNext = GC.AllocateArray<T>(rows * hidden, pinned: true);  // (rows,H) gradient reaching c_t from step t+1
            fixed (T* dhn = dhNext, dcn = dcNext)
                for (int step = t - 1; step >= 0; step--)
                {
                    for (int r = 0; r < rows; r++)
                    {
                        long row = (long)(r0 + r) * t + step;
                        T* gate = gates.Ptr + row * g4, dz = dxproj.Ptr + row * g4;
                        T* cv = cell.Ptr + row * hidden, dhv = dh.Ptr + row * hidden;
                        T* cPrev = step > 0 ? cell.Ptr + (row - 1) * hidden : null;
                        T* dhN = dhn + r * hidden, dcN = dcn + r * hidden;
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
                    // dh_{t-1} (rows,H) = dz_t (rows,4H) W_hh (4H,H)
                    if (step > 0)
                        Gemm<T>.Multiply(false, false, rows, hidden, g4, dxproj.Ptr + ((long)r0 * t + step) * g4, t * g4, whh.Ptr, hidden,
                            dhn, hidden, accumulate: false, parallel: false);
                }
        });
        // dW_hh (4H,H) += sum over (b, t>=1) dz_t^T h_{t-1}: one GEMM per sequence over its shifted rows.
        for (int bi = 0; bi < b; bi++)
            Gemm<T>.Multiply(true, false, g4, hidden, t - 1, dxproj.Ptr + ((long)bi * t + 1) * g4, g4,
                h.Ptr + (long)bi * t * hidden, hidden, dwhh.Ptr, hidden, accumulate: true);
        ColumnSums(dbhh, dxproj, (long)b * t, g4);
    }
}
