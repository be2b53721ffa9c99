using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Kernels.Gpu;

public abstract partial class OpComparisons
{
    /// <summary>
    /// The recurrence runs in FP32 in every mode (1e-5); the precision is that of the one dW_hh GEMM over the sequence.
    /// In TF32 that GEMM rounds its inputs (dz from the recurrence, whose last bits differ between the engines) to
    /// 11 significant bits, so an input that differs by one FP32 ulp can round to the neighbouring TF32 value and move
    /// a product by up to 2u = 2^-10 of itself: dW_hh gets atol = rtol = 2e-3 there (3xTF32 keeps FP32's 1e-5).
    /// </summary>
    [Theory]
    [InlineData(MatmulPrecision.Fp32)]
    [InlineData(MatmulPrecision.Tf32x3)]
    [InlineData(MatmulPrecision.Tf32)]
    public void Lstm_forward_and_backward(MatmulPrecision precision)
    {
        int b = 3, t = 20, hidden = 40;
        var xproj = Random(b * t * 4 * hidden, 19, 1.5); var whh = Random(4 * hidden * hidden, 20, 0.3); var bhh = Random(4 * hidden, 21, 0.5);
        var dh = Random(b * t * hidden, 22); var dwhh0 = Random(4 * hidden * hidden, 23); var dbhh0 = Random(4 * hidden, 24);
        Action<ComparisonSession> Scenario(bool recurrence, bool weightGradient) => s =>
        {
            var h = s.Zeros(b * t * hidden); var cell = s.Zeros(b * t * hidden); var gates = s.Zeros(b * t * 4 * hidden);
            var w = s.F(whh);
            s.Ops.LstmForward(h, cell, gates, s.F(xproj), w, s.F(bhh), b, t, hidden);
            var dxproj = s.Zeros(b * t * 4 * hidden); var dwhh = s.F(dwhh0); var dbhh = s.F(dbhh0);
            s.Ops.LstmBackward(dxproj, dwhh, dbhh, s.F(dh), h, cell, gates, w, b, t, hidden, precision);
            if (recurrence)
            {
                s.Output("lstm h", h);
                s.Output("lstm cell", cell);
                s.Output("lstm gates", gates);
                s.Output("lstm dxproj", dxproj);
                s.Output("lstm dbhh", dbhh);
            }
            if (weightGradient) s.Output($"lstm dwhh {precision}", dwhh);
        };
        if (precision != MatmulPrecision.Tf32)
        {
            Compare(Scenario(true, true));
            return;
        }
        Compare(Scenario(true, false));
        Compare(Scenario(false, true), atol: 2e-3, rtol: 2e-3);
    }
}
