using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

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

    /// <summary>
    /// The recurrence (forward and backward) at shapes that split unevenly over the persistent kernels' blocks and
    /// batch chunks, through the persistent kernels (which the device must be able to hold) and the per-step ones.
    /// </summary>
    [Theory]
    [InlineData(1, 1, 1, true)]     // one unit, one step: no grid barrier at all
    [InlineData(1, 7, 5, true)]     // B = 1, 5 blocks of 1 unit
    [InlineData(3, 1, 33, true)]    // T = 1; 2 units a block, the last block 1
    [InlineData(5, 9, 67, true)]    // 3 units a block, 23 blocks, the last 1 unit
    [InlineData(17, 4, 37, true)]   // two batch chunks (LSTM_STAGE_ROWS = 16), the second of 1 row
    [InlineData(2, 3, 128, true)]   // the 133K LSTM's H: 4 units in each of 32 blocks
    [InlineData(5, 9, 67, false)]
    [InlineData(1, 1, 1, false)]
    public void Lstm_recurrence_at_uneven_shapes(int b, int t, int hidden, bool persistent)
    {
        var xproj = Random(b * t * 4 * hidden, 31, 1.5); var whh = Random(4 * hidden * hidden, 32, 0.3); var bhh = Random(4 * hidden, 33, 0.5);
        var dh = Random(b * t * hidden, 34); var dwhh0 = Random(4 * hidden * hidden, 35); var dbhh0 = Random(4 * hidden, 36);
        Compare(s =>
        {
            if (s.Ops is GpuOps gpu)
            {
                gpu.PersistentLstm = persistent;
                var plan = gpu.PlanLstm(b, hidden);
                Assert.True(plan.Persistent == persistent, plan.Reason);
            }
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

    /// <summary>A hidden size whose W_hh slices do not fit in shared memory runs per step, and the plan says why.</summary>
    [Fact]
    public void Lstm_too_large_for_shared_memory_runs_per_step_with_a_reason()
    {
        using var ops = new GpuOps(Open());
        var plan = ops.PlanLstm(16, 4096);
        Assert.False(plan.Persistent);
        Assert.Contains("lstm_forward_persistent for H = 4096, B = 16 needs 32 co-resident blocks", plan.Reason);
        Assert.Contains("the device keeps 0 resident", plan.Reason);
        Assert.True(ops.PlanLstm(16, 128).Persistent, ops.PlanLstm(16, 128).Reason);
    }

    /// <summary>Two runs of the persistent LSTM give the same bits (every sum in a fixed order, whatever the blocks' timing).</summary>
    [Fact]
    public void Lstm_persistent_runs_are_bit_identical()
    {
        int b = 3, t = 6, hidden = 45;
        var xproj = Random(b * t * 4 * hidden, 41, 1.5); var whh = Random(4 * hidden * hidden, 42, 0.3); var bhh = Random(4 * hidden, 43, 0.5);
        var dh = Random(b * t * hidden, 44);
        void Scenario(ComparisonSession s)
        {
            Assert.True(((GpuOps)s.Ops).PlanLstm(b, hidden).Persistent);
            var h = s.Zeros(b * t * hidden); var cell = s.Zeros(b * t * hidden); var gates = s.Zeros(b * t * 4 * hidden);
            var w = s.F(whh);
            s.Ops.LstmForward(h, cell, gates, s.F(xproj), w, s.F(bhh), b, t, hidden);
            var dxproj = s.Zeros(b * t * 4 * hidden); var dwhh = s.Zeros(4 * hidden * hidden); var dbhh = s.Zeros(4 * hidden);
            s.Ops.LstmBackward(dxproj, dwhh, dbhh, s.F(dh), h, cell, gates, w, b, t, hidden, MatmulPrecision.Fp32);
            s.Output("lstm h", h);
            s.Output("lstm dxproj", dxproj);
            s.Output("lstm dwhh", dwhh);
        }
        var device = Open();
        var first = KernelComparison.OnDevice(device, Scenario);
        var second = KernelComparison.OnDevice(device, Scenario);
        for (int i = 0; i < first.Floats.Count; i++)
            Assert.True(first.Floats[i].Values.AsSpan().SequenceEqual(second.Floats[i].Values), $"{first.Floats[i].Name} differs between two runs");
    }
}
