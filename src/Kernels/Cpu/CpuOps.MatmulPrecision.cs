using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Kernels.Cpu;

/// <summary>
/// The matmul products in each <see cref="MatmulPrecision"/>: FP32 through the CPU GEMM (<see cref="Gemm{T}"/>),
/// the TF32 modes through <see cref="TensorCoreTwin"/>, which adds in the tensor-core kernels' order. Only float:
/// double (the gradient checks) has no TF32 and refuses those modes.
/// </summary>
public sealed unsafe partial class CpuOps<T>
{
    /// <summary>output (N,OC) = input (N,C) weight (OC,C)^T, no bias.</summary>
    static void ForwardProduct(MatmulPrecision precision, T* output, T* input, T* weight, int n, int c, int oc)
    {
        if (precision == MatmulPrecision.Fp32)
            Gemm<T>.Multiply(false, true, n, oc, c, input, c, weight, c, output, oc, accumulate: false);
        else if (RequireSingle(precision) && n > 0 && oc > 0)
            TensorCoreTwin.Forward((float*)output, (float*)input, (float*)weight, n, c, oc, precision);
    }

    /// <summary>dinput (N,C) += doutput (N,OC) weight (OC,C).</summary>
    static void InputGradientProduct(MatmulPrecision precision, T* dinput, T* doutput, T* weight, int n, int c, int oc)
    {
        if (precision == MatmulPrecision.Fp32)
            Gemm<T>.Multiply(false, false, n, c, oc, doutput, oc, weight, c, dinput, c, accumulate: true);
        else if (RequireSingle(precision) && n > 0 && c > 0)
            TensorCoreTwin.InputGradient((float*)dinput, (float*)doutput, (float*)weight, n, c, oc, precision);
    }

    /// <summary>dweight (OC,C) += doutput (N,OC)^T input (N,C).</summary>
    static void WeightGradientProduct(MatmulPrecision precision, T* dweight, T* doutput, T* input, int n, int c, int oc)
    {
        if (precision == MatmulPrecision.Fp32)
            Gemm<T>.Multiply(true, false, oc, c, n, doutput, oc, input, c, dweight, c, accumulate: true);
        else if (RequireSingle(precision) && oc > 0 && c > 0)
            TensorCoreTwin.WeightGradient((float*)dweight, (float*)doutput, (float*)input, n, c, oc, precision);
    }

    static bool RequireSingle(MatmulPrecision precision) => typeof(T) == typeof(float)
        ? true
        : throw new NotSupportedException($"matmul precision {precision} needs float operands; CpuOps<{typeof(T).Name}> supports only {MatmulPrecision.Fp32}");

    /// <summary>
    /// The interface's LSTM backward: the recurrence in FP32 (CpuOps.Lstm.cs) and dW_hh in <paramref name="precision"/>,
    /// as the kernels take it: one weight gradient over all B*T rows with h shifted by one step (zero at t = 0). The
    /// recurrence's own FP32 dW_hh then goes to a discarded buffer.
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
        long n = (long)b * t;
        var hprev = new T[n * hidden];  // (B,T,H): h_{t-1}, zero at t = 0
        for (int bi = 0; bi < b; bi++)
            new ReadOnlySpan<T>(h.Ptr + (long)bi * t * hidden, (t - 1) * hidden).CopyTo(hprev.AsSpan((int)(((long)bi * t + 1) * hidden)));
        fixed (T* hp = hprev)
            WeightGradientProduct(precision, dwhh.Ptr, dxproj.Ptr, hp, checked((int)n), hidden, g4);
    }
}
