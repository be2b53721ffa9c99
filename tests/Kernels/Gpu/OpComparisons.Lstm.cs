using RawFlipFlop.Kernels.Devices;
namespace RawFlipFlop.Tests.Kernels.Gpu;

public abstract partial class OpComparisons
{
    [Fact]
    public void Lstm_forward_and_backward()
    {
        int b = 3, t = 20, hidden = 40;
        var xproj = Random(b * t * 4 * hidden, 19, 1.5); var whh = Random(4 * hidden * hidden, 20, 0.3); var bhh = Random(4 * hidden, 21, 0.5);
        var dh = Random(b * t * hidden, 22); var dwhh0 = Random(4 * hidden * hidden, 23); var dbhh0 = Random(4 * hidden, 24);
        Compare(s =>
        {
            var h = s.Zeros(b * t * hidden); var cell = s.Zeros(b * t * hidden); var gates = s.Zeros(b * t * 4 * hidden);
            var w = s.F(whh);
            s.Ops.LstmForward(h, cell, gates, s.F(xproj), w, s.F(bhh), b, t, hidden);
            var dxproj = s.Zeros(b * t * 4 * hidden); var dwhh = s.F(dwhh0); var dbhh = s.F(dbhh0);
            s.Ops.LstmBackward(dxproj, dwhh, dbhh, s.F(dh), h, cell, gates, w, b, t, hidden, MatmulPrecision.Fp32);
            s.Output("lstm h", h);
            s.Output("lstm cell", cell);
            s.Output("lstm gates", gates);
            s.Output("lstm dxproj", dxproj);
            s.Output("lstm dwhh", dwhh);
            s.Output("lstm dbhh", dbhh);
        });
    }
}
