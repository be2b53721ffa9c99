using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

public sealed unsafe partial class CpuOps<T>
{
    static T Sigmoid(T x) => T.One / (T.One + T.Exp(-x));

    public void LstmForward(Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> xproj, Buf<T> whh, Buf<T> bhh, int b, int t, int hidden)
    {
        int g4 = 4 * hidden;
        var pre = GC.AllocateArray<T>(b * g4, pinned: true);
        fixed (T* z = pre)
        {
            nint zAddr = (nint)z;
            for (int step = 0; step < t; step++)
            {
                // z (B,4H) = x W_ih^T + b_ih (given) + b_hh + h_{t-1} W_hh^T
                for (int bi = 0; bi < b; bi++)
                {
                    T* src = xproj.Ptr + ((long)bi * t + step) * g4;
                    for (int j = 0; j < g4; j++) z[bi * g4 + j] = src[j] + bhh.Ptr[j];
                }
                if (step > 0)
                    Gemm<T>.Multiply(false, true, b, g4, hidden, h.Ptr + (long)(step - 1) * hidden, t * hidden,
                        whh.Ptr, hidden, z, g4, accumulate: true);
                int s = step;
                Parallel.For(0, b, bi =>
                {
                    T* zz = (T*)zAddr + bi * g4;
                    long row = (long)bi * t + s;
                    T* gate = gates.Ptr + row * g4;
                    T* cOut = cell.Ptr + row * hidden, hOut = h.Ptr + row * hidden;
                    T* cPrev = s > 0 ? cell.Ptr + (row - 1) * hidden : null;
                    for (int j = 0; j < hidden; j++)
                    {
                        T ig = Sigmoid(zz[j]), fg = Sigmoid(zz[hidden + j]), gg = T.Tanh(zz[2 * hidden + j]), og = Sigmoid(zz[3 * hidden + j]);
                        gate[j] = ig; gate[hidden + j] = fg; gate[2 * hidden + j] = gg; gate[3 * hidden + j] = og;
                        T cv = ig * gg + (cPrev != null ? fg * cPrev[j] : T.Zero);
                        cOut[j] = cv;
                        hOut[j] = og * T.Tanh(cv);
                    }
                });
            }
        }
    }

    public void LstmBackward(Buf<T> dxproj, Buf<T> dwhh, Buf<T> dbhh, Buf<T> dh, Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> whh,
        int b, int t, int hidden)
    {
        int g4 = 4 * hidden;
        var dhNext = GC.AllocateArray<T>(b * hidden, pinned: true);  // (B,H) gradient reaching h_{t} from step t+1
        var dcNext = GC.AllocateArray<T>(b * hidden, pinned: true);  // (B,H) gradient reaching c_{t} from step t+1
        fixed (T* dhn = dhNext, dcn = dcNext)
        {
            nint dhnAddr = (nint)dhn, dcnAddr = (nint)dcn;
            for (int step = t - 1; step >= 0; step--)
            {
                int s = step;
                Parallel.For(0, b, bi =>
                {
                    long row = (long)bi * t + s;
                    T* gate = gates.Ptr + row * g4, dz = dxproj.Ptr + row * g4;
                    T* cv = cell.Ptr + row * hidden, dhv = dh.Ptr + row * hidden;
                    T* cPrev = s > 0 ? cell.Ptr + (row - 1) * hidden : null;
                    T* dhN = (T*)dhnAddr + bi * hidden, dcN = (T*)dcnAddr + bi * hidden;
                    for (int j = 0; j < hidden; j++)
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
                });
                // dh_{t-1} (B,H) = dz_t (B,4H) W_hh (4H,H)
                if (step > 0)
                    Gemm<T>.Multiply(false, false, b, hidden, g4, dxproj.Ptr + (long)step * g4, t * g4, whh.Ptr, hidden,
                        dhn, hidden, accumulate: false);
            }
        }
        // dW_hh (4H,H) += sum over (b, t>=1) dz_t^T h_{t-1}: one GEMM per sequence over its shifted rows.
        for (int bi = 0; bi < b; bi++)
            Gemm<T>.Multiply(true, false, g4, hidden, t - 1, dxproj.Ptr + ((long)bi * t + 1) * g4, g4,
                h.Ptr + (long)bi * t * hidden, hidden, dwhh.Ptr, hidden, accumulate: true);
        ColumnSums(dbhh, dxproj, (long)b * t, g4);
    }
}
