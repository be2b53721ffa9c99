using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
    /// <summary>h, cell (B,T,H), gates (B,T,4H) from xproj (B,T,4H), whh (4H,H), bhh (4H): one launch per time step.</summary>
    public void LstmForward(Buf<float> h, Buf<float> cell, Buf<float> gates, Buf<float> xproj, Buf<float> whh, Buf<float> bhh, int b, int t, int hidden)
    {
        uint blocks = WarpBlocks((long)b * hidden, "lstm_step_forward");
        for (int step = 0; step < t; step++)
            Device.Launch("lstm_step_forward", blocks, Threads("lstm_step_forward"), 0, h, cell, gates, xproj, whh, bhh, b, t, hidden, step);
    }

    /// <summary>
    /// dxproj (B,T,4H) (overwritten), dwhh (4H,H) +=, dbhh (4H) += from dh (B,T,H): two launches per time step
    /// (gates, then the gradient reaching h_{t-1}), then the weight and bias gradients as matmul backward launches
    /// (the weight gradient in <paramref name="precision"/>).
    /// </summary>
    public void LstmBackward(Buf<float> dxproj, Buf<float> dwhh, Buf<float> dbhh, Buf<float> dh, Buf<float> h, Buf<float> cell, Buf<float> gates,
        Buf<float> whh, int b, int t, int hidden, MatmulPrecision precision)
    {
        long n = (long)b * t;
        var scratch = Scratch(2L * b * hidden + n * hidden);
        var dhNext = scratch.Slice(0, (long)b * hidden);             // (B,H) gradient reaching h_t from step t+1
        var dcNext = scratch.Slice((long)b * hidden, (long)b * hidden); // (B,H) gradient reaching c_t from step t+1
        var hprev = scratch.Slice(2L * b * hidden, n * hidden);     // (B,T,H) h shifted one step later
        Fill(dhNext, 0f);
        Fill(dcNext, 0f);
        uint blocks = Dim3.Blocks((long)b * hidden, Threads("lstm_step_backward"));
        for (int step = t - 1; step >= 0; step--)
        {
            Device.Launch("lstm_step_backward", blocks, Threads("lstm_step_backward"), 0, dxproj, dcNext, dhNext, dh, cell, gates, b, t, hidden, step);
            if (step > 0)
                Device.Launch("lstm_step_backward_dh", blocks, Threads("lstm_step_backward_dh"), 0, dhNext, dxproj, whh, b, t, hidden, step);
        }
        Launch1D("lstm_shift_hidden", n * hidden, hprev, h, b, t, hidden);
        // dW_hh (4H,H) += dz^T hprev; db_hh (4H) += column sums of dz
        WeightGradient(dwhh, dxproj, hprev, (int)n, hidden, 4 * hidden, precision);
        BiasGradient(dbhh, dxproj, (int)n, 4 * hidden);
    }
}
