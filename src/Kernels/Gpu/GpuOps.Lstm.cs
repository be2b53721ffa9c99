using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// How <see cref="GpuOps"/> runs the LSTM recurrence for one batch size and hidden size. Persistent: one cooperative
/// launch each way (lstm_forward_persistent, lstm_backward_persistent) on <paramref name="Blocks"/> blocks that each keep
/// <paramref name="Units"/> hidden units' W_hh in shared memory; otherwise the per-step kernels (a launch per time step),
/// and <paramref name="Reason"/> says why.
/// </summary>
public sealed record LstmPlan(bool Persistent, int Blocks, int Units, int ForwardSharedBytes, int BackwardSharedBytes, string Reason);

public sealed partial class GpuOps
{
    readonly Dictionary<(int B, int Hidden), LstmPlan> _lstmPlans = [];
    Buf<uint> _gridBarrier;

    /// <summary>Whether the LSTM may run persistent (default); false forces the per-step kernels (to compare both).</summary>
    public bool PersistentLstm { get; set; } = true;

    /// <summary>
    /// The persistent geometry for batch <paramref name="b"/> and <paramref name="hidden"/> units, if the device can hold
    /// it: units = ceil(H / LSTM_MAX_BLOCKS) per block, ceil(H / units) blocks, all resident at once with the shared
    /// memory below. The sizes mirror the layout in kernels.cu (lstm_lanes, lstm_stride, lstm_stage_rows).
    /// </summary>
    public LstmPlan PlanLstm(int b, int hidden)
    {
        if (!PersistentLstm) return new LstmPlan(false, 0, 0, 0, 0, "PersistentLstm is off");
        if (b <= 0 || hidden <= 0) return new LstmPlan(false, 0, 0, 0, 0, $"nothing to hold on chip (B = {b}, H = {hidden})");
        lock (_lstmPlans)
        {
            if (_lstmPlans.TryGetValue((b, hidden), out var cached)) return cached;
            var plan = NewLstmPlan(b, hidden);
            _lstmPlans[(b, hidden)] = plan;
            return plan;
        }
    }

    LstmPlan NewLstmPlan(int b, int hidden)
    {
        int threads = Threads("lstm_forward_persistent"), maxBlocks = _source.Define("LSTM_MAX_BLOCKS");
        int units = (hidden + maxBlocks - 1) / maxBlocks, blocks = (hidden + units - 1) / units;
        int stage = Math.Min(b, _source.Define("LSTM_STAGE_ROWS")), dotRows = _source.Define("LSTM_DOT_ROWS");
        int sets = (stage + dotRows - 1) / dotRows, staged = sets * dotRows;  // staged rows: whole dot tasks
        // forward: W_hh rows (4 units, stride), h_{t-1} (staged, stride), pre-activations (stage, 4 units), c_{t-1} (stage, units)
        long forwardStride = LstmStride(hidden, LstmLanes((long)sets * 4 * units, threads));
        long forward = 4 * ((4L * units + staged) * forwardStride + (long)stage * 4 * units + (long)stage * units);
        // backward: W_hh columns (units, stride), dz_t (staged, stride)
        long backward = 4 * ((long)(units + staged) * LstmStride(4L * hidden, LstmLanes((long)sets * units, threads)));
        foreach (var (kernel, bytes) in new[] { ("lstm_forward_persistent", forward), ("lstm_backward_persistent", backward) })
        {
            int resident = bytes > int.MaxValue ? 0 : Device.CooperativeBlocks(kernel, threads, (int)bytes);
            if (resident < blocks)
                return new LstmPlan(false, blocks, units, (int)Math.Min(forward, int.MaxValue), (int)Math.Min(backward, int.MaxValue),
                    $"{kernel} for H = {hidden}, B = {b} needs {blocks} co-resident blocks of {threads} threads with {bytes} bytes of " +
                    $"shared memory each; the device keeps {resident} resident");
        }
        return new LstmPlan(true, blocks, units, (int)forward, (int)backward, "");
    }

    /// <summary>kernels.cu's lstm_lanes: threads per dot product task when a block has <paramref name="tasks"/>.</summary>
    static int LstmLanes(long tasks, int threads)
    {
        int lanes = WarpSize;
        while (lanes > 1 && lanes * tasks > threads) lanes >>= 1;
        return lanes;
    }

    /// <summary>kernels.cu's lstm_stride: a multiple of 32 plus lanes (mod 32).</summary>
    static long LstmStride(long n, int lanes) => (n + 31) / 32 * 32 + lanes % 32;

    /// <summary>grid_sync's counter (1): zero when allocated, left with zero low bits by every launch.</summary>
    Buf<uint> GridBarrier()
    {
        if (_gridBarrier.IsEmpty) _gridBarrier = Device.Allocate<uint>(1);
        return _gridBarrier;
    }

    void FreeGridBarrier()
    {
        if (!_gridBarrier.IsEmpty) Device.Free(_gridBarrier);
        _gridBarrier = default;
    }

    /// <summary>
    /// h, cell (B,T,H), gates (B,T,4H) from xproj (B,T,4H), whh (4H,H), bhh (4H): one cooperative launch (see
    /// <see cref="PlanLstm"/>), else one launch per time step.
    /// </summary>
    public void LstmForward(Buf<float> h, Buf<float> cell, Buf<float> gates, Buf<float> xproj, Buf<float> whh, Buf<float> bhh, int b, int t, int hidden)
    {
        var plan = PlanLstm(b, hidden);
        if (plan.Persistent)
        {
            Device.LaunchCooperative("lstm_forward_persistent", plan.Blocks, Threads("lstm_forward_persistent"), plan.ForwardSharedBytes,
                h, cell, gates, xproj, whh, bhh, GridBarrier(), b, t, hidden, plan.Units);
            return;
        }
        uint blocks = WarpBlocks((long)b * hidden, "lstm_step_forward");
        for (int step = 0; step < t; step++)
            Device.Launch("lstm_step_forward", blocks, Threads("lstm_step_forward"), 0, h, cell, gates, xproj, whh, bhh, b, t, hidden, step);
    }

    /// <summary>
    /// dxproj (B,T,4H) (overwritten), dwhh (4H,H) +=, dbhh (4H) += from dh (B,T,H): the recurrence in one cooperative
    /// launch (else two launches per time step: gates, then the gradient reaching h_{t-1}), then the weight and bias
    /// gradients as matmul backward launches over the whole sequence (the weight gradient in <paramref name="precision"/>).
    /// </summary>
    public void LstmBackward(Buf<float> dxproj, Buf<float> dwhh, Buf<float> dbhh, Buf<float> dh, Buf<float> h, Buf<float> cell, Buf<float> gates,
        Buf<float> whh, int b, int t, int hidden, MatmulPrecision precision)
    {
        long n = (long)b * t;
        var scratch = Scratch(2L * b * hidden + n * hidden);
        var dhNext = scratch.Slice(0, (long)b * hidden);             // (B,H) gradient reaching h_t from step t+1
        var dcNext = scratch.Slice((long)b * hidden, (long)b * hidden); // (B,H) gradient reaching c_t from step t+1
        var hprev = scratch.Slice(2L * b * hidden, n * hidden);     // (B,T,H) h shifted one step later
        var plan = PlanLstm(b, hidden);
        if (plan.Persistent)
            Device.LaunchCooperative("lstm_backward_persistent", plan.Blocks, Threads("lstm_backward_persistent"), plan.BackwardSharedBytes,
                dxproj, dhNext, dcNext, dh, cell, gates, whh, GridBarrier(), b, t, hidden, plan.Units);
        else
        {
            Fill(dhNext, 0f);
            Fill(dcNext, 0f);
            uint blocks = Dim3.Blocks((long)b * hidden, Threads("lstm_step_backward"));
            for (int step = t - 1; step >= 0; step--)
            {
                Device.Launch("lstm_step_backward", blocks, Threads("lstm_step_backward"), 0, dxproj, dcNext, dhNext, dh, cell, gates, b, t, hidden, step);
                if (step > 0)
                    Device.Launch("lstm_step_backward_dh", blocks, Threads("lstm_step_backward_dh"), 0, dhNext, dxproj, whh, b, t, hidden, step);
            }
        }
        Launch1D("lstm_shift_hidden", n * hidden, hprev, h, b, t, hidden);
        // dW_hh (4H,H) += dz^T hprev; db_hh (4H) += column sums of dz
        WeightGradient(dwhh, dxproj, hprev, (int)n, hidden, 4 * hidden, precision);
        BiasGradient(dbhh, dxproj, (int)n, 4 * hidden);
    }
}
