using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
    public void LstmForward(Buf<float> h, Buf<float> cell, Buf<float> gates, Buf<float> xproj, Buf<float> whh, Buf<float> bhh, int b, int t, int hidden)
    {
        uint blocks = WarpBlocks((long)b * hidden, "lstm_step_forward");
        for (int step = 0; step < t; step++)
            Device.Launch("lstm_step_forward", blocks, Threads("lstm_step_forward"), 0, h, cell, gates, xproj, whh, bhh, b, t, hidden, step);
    }

    public void LstmBackward(Buf<float> dxproj, Buf<float> dwhh, Buf<float> dbhh, Buf<float> dh, Buf<float> h, Buf<float> cell, Buf<float> gates,
        Buf<float> whh, int b, int t, int hidden)
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
        Device.Launch("matmul_backward_weight", new Dim3(Dim3.Blocks(hidden, _gemmCols), Dim3.Blocks(4 * hidden, _gemmRows)),
            Threads("matmul_backward_weight"), 0, dwhh, dxproj, hprev, (int)n, hidden, 4 * hidden);
        Device.Launch("matmul_backward_bias", Dim3.Blocks(4 * hidden, 32), Threads("matmul_backward_bias"), 0, dbhh, dxproj, (int)n, 4 * hidden);
    }
}
