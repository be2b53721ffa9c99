using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

// The rest of IOps<float> as kernel launches (issue 5): every op of the models, so the Transformer and the LSTM
// train, evaluate and produce gradients on the GPU and on the emulator with the CPU engine's semantics.
public sealed partial class GpuOps
{
    const int MaxGrid = 8192;   // grid-stride kernels: enough blocks to fill an H100 several times over
    readonly Dictionary<int, Buf<float>> _alibiSlopes = [];

    IDevice IOps<float>.Device => Device;

    uint GridStride(long n, string kernel) => (uint)Math.Min(Dim3.Blocks(n, Threads(kernel)), MaxGrid);

    void Launch1D(string kernel, long n, params ReadOnlySpan<KernelArg> args)
    {
        if (n <= 0) return;
        Device.Launch(kernel, GridStride(n, kernel), Threads(kernel), 0, args);
    }

    /// <summary>Blocks of the kernel's size covering <paramref name="warps"/> warps (one warp per item).</summary>
    uint WarpBlocks(long warps, string kernel) => Dim3.Blocks(warps * 32, Threads(kernel));

    // ---- utility ----

    public void Fill(Buf<float> x, float value) => Launch1D("fill_value", x.Length, x, x.Length, value);

    public void SumForward(Buf<float> output, Buf<float> input, long n) =>
        Device.Launch("sum_forward", 1, Threads("sum_forward"), 0, output, input, n);

    // ---- embeddings and positions ----

    public void EmbeddingForward(Buf<float> output, Buf<int> tokens, Buf<float> table, int n, int c) =>
        Launch1D("embedding_forward", (long)n * c, output, tokens, table, n, c);

    public void EmbeddingBackward(Buf<float> dtable, Buf<float> doutput, Buf<int> tokens, int n, int v, int c) =>
        Device.Launch("embedding_backward", Dim3.Blocks((long)v * c, Threads("embedding_backward")), Threads("embedding_backward"), 0,
            dtable, doutput, tokens, n, v, c);

    public void PositionAddForward(Buf<float> x, Buf<float> table, float scale, int b, int t, int c)
    {
        if (table.Length < (long)t * c) throw new ArgumentException($"position table has {table.Length / c} rows, sequence length is {t}");
        Launch1D("position_add_forward", (long)b * t * c, x, table, scale, b, t, c);
    }

    public void PositionAddBackward(Buf<float> dtable, Buf<float> dx, float scale, int b, int t, int c) =>
        Device.Launch("position_add_backward", Dim3.Blocks((long)t * c, Threads("position_add_backward")), Threads("position_add_backward"), 0,
            dtable, dx, scale, b, t, c);

    public void SinusoidalTable(Buf<float> table, int t, int c) =>
        Device.Launch("sinusoidal_table", Dim3.Blocks((long)t * c, Threads("sinusoidal_table")), Threads("sinusoidal_table"), 0, table, t, c);

    public void LinearPositionForward(Buf<float> x, float divisor, int b, int t, int c) =>
        Device.Launch("linear_position_forward", Dim3.Blocks((long)b * t, Threads("linear_position_forward")), Threads("linear_position_forward"), 0,
            x, divisor, b, t, c);

    public void RopeForward(Buf<float> qkv, int b, int t, int c, int heads) => Rope(qkv, b, t, c, heads, 1f);

    public void RopeBackward(Buf<float> dqkv, int b, int t, int c, int heads) => Rope(dqkv, b, t, c, heads, -1f);

    void Rope(Buf<float> qkv, int b, int t, int c, int heads, float sign)
    {
        long pairs = (long)b * t * 2 * heads * (c / heads / 2);
        Device.Launch("rope_rotate", Dim3.Blocks(pairs, Threads("rope_rotate")), Threads("rope_rotate"), 0, qkv, b, t, c, heads, sign);
    }

    // ---- attention ----

    /// <summary>Per row: logsumexp of the scores, the mean score under the softmax, and D = dO.O (filled by the backward).</summary>
    public long AttentionSavedLength(int b, int t, int heads) => (long)b * heads * t * 3;

    const int SharedBudget = 48 * 1024;   // the default dynamic shared memory limit, no opt-in needed

    /// <summary>Keys per shared-memory tile so that the kernel's tiles fit in 48 KB (at most a warp's width).</summary>
    int KeyTile(int dh, int rowFloats, int perKeyExtra = 0)
    {
        int rows = _source.Define("ATT_ROWS");
        int maxDh = 32 * _source.Define("ATT_MAX_DH_PER_LANE");
        if (dh > maxDh) throw new NotSupportedException($"the GPU attention supports head dimensions up to {maxDh}, got {dh}");
        int free = SharedBudget / 4 - rows * rowFloats;
        int tile = Math.Min(32, free / (2 * (dh + 1) + perKeyExtra));
        if (tile < 1) throw new NotSupportedException($"head dimension {dh} does not fit the attention kernels' shared memory");
        return tile;
    }

    static int SharedBytes(int dh, int tile, int rows, int rowFloats, int perKeyExtra = 0) =>
        4 * (2 * tile * (dh + 1) + rows * rowFloats + tile * perKeyExtra);

    KernelArg Slopes(bool alibi, int heads)
    {
        if (!alibi) return KernelArg.Null;
        if (!_alibiSlopes.TryGetValue(heads, out var buffer))
        {
            var slopes = CpuOps<float>.AlibiSlopes(heads).Select(s => (float)s).ToArray();
            buffer = Device.Allocate<float>(heads);
            Device.Upload<float>(slopes, buffer);
            _alibiSlopes[heads] = buffer;
        }
        return buffer;
    }

    public void AttentionForward(Buf<float> output, Buf<float> saved, Buf<float> qkv, AttentionOptions options, int b, int t, int c, int heads)
    {
        CheckSize(saved, AttentionSavedLength(b, t, heads), "saved");
        int dh = c / heads, rows = _source.Define("ATT_ROWS");
        int tile = KeyTile(dh, dh);
        var grid = new Dim3(Dim3.Blocks(t, rows), (uint)(b * heads));
        var d = options.Dropout;
        Device.Launch("attention_forward", grid, Threads("attention_forward"), SharedBytes(dh, tile, rows, dh), output, saved, qkv,
            b, t, c, heads, Slopes(options.Alibi, heads), tile, d.Active ? d.P : 0f, d.Seed, d.Stream);
    }

    public void AttentionBackward(Buf<float> dqkv, Buf<float> doutput, Buf<float> qkv, Buf<float> output, Buf<float> saved, float entropyScale,
        AttentionOptions options, int b, int t, int c, int heads)
    {
        int dh = c / heads, rows = _source.Define("ATT_ROWS");
        var d = options.Dropout;
        float p = d.Active ? d.P : 0f;
        Device.Launch("attention_backward_preprocess", WarpBlocks((long)b * heads * t, "attention_backward_preprocess"),
            Threads("attention_backward_preprocess"), 0, saved, doutput, output, b, t, c, heads);
        var grid = new Dim3(Dim3.Blocks(t, rows), (uint)(b * heads));
        var slopes = Slopes(options.Alibi, heads);
        int tileQ = KeyTile(dh, 2 * dh);
        Device.Launch("attention_backward_dq", grid, Threads("attention_backward_dq"), SharedBytes(dh, tileQ, rows, 2 * dh), dqkv, doutput, qkv,
            saved, entropyScale, b, t, c, heads, slopes, tileQ, p, d.Seed, d.Stream);
        int tileKv = KeyTile(dh, 2 * dh, 3);
        Device.Launch("attention_backward_dkv", grid, Threads("attention_backward_dkv"), SharedBytes(dh, tileKv, rows, 2 * dh, 3), dqkv, doutput,
            qkv, saved, entropyScale, b, t, c, heads, slopes, tileKv, p, d.Seed, d.Stream);
    }

    public void AttentionEntropyForward(Buf<float> output, Buf<float> saved, int b, int t, int heads) =>
        Device.Launch("attention_entropy_forward", 1, Threads("attention_entropy_forward"), 0, output, saved, (long)b * heads * t);

    public void AttentionProbabilities(Buf<float> probs, Buf<float> scores, Buf<float> qkv, AttentionOptions options, int b, int t, int c, int heads)
    {
        CheckSize(probs, (long)b * heads * t * t, "probs");
        if (!scores.IsEmpty) CheckSize(scores, (long)b * heads * t * t, "scores");
        Device.Launch("attention_probabilities", WarpBlocks((long)b * heads * t, "attention_probabilities"), Threads("attention_probabilities"), 0,
            probs, KernelArg.Of(scores), qkv, b, t, c, heads, Slopes(options.Alibi, heads));
    }

    // ---- pointwise ----

    public void GeluForward(Buf<float> output, Buf<float> input, long n) => Launch1D("gelu_forward", n, output, input, n);

    public void GeluBackward(Buf<float> dinput, Buf<float> input, Buf<float> doutput, long n) => Launch1D("gelu_backward", n, dinput, input, doutput, n);

    public void ResidualForward(Buf<float> output, Buf<float> a, Buf<float> b, long n) => Launch1D("residual_forward", n, output, a, b, n);

    public void ResidualBackward(Buf<float> dinput, Buf<float> doutput, long n) => Launch1D("residual_backward", n, dinput, doutput, n);

    public void DropoutForward(Buf<float> output, Buf<float> input, DropoutSpec spec, long n) => Dropout(output, input, spec, n);

    public void DropoutBackward(Buf<float> dinput, Buf<float> doutput, DropoutSpec spec, long n) => Dropout(dinput, doutput, spec, n);

    void Dropout(Buf<float> output, Buf<float> input, DropoutSpec spec, long n)
    {
        if (!spec.Active)
        {
            if (output.Address != input.Address) Device.Copy(input.Slice(0, n), output.Slice(0, n));
            return;
        }
        Launch1D("dropout_forward", n, output, input, n, spec.P, spec.Seed, spec.Stream);
    }

    // ---- LSTM ----

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

    // ---- loss and evaluation ----

    public void CrossEntropyForwardBackward(Buf<float> losses, Buf<float> dlogits, Buf<float> logits, Buf<int> targets, float dscale, int n, int v) =>
        Device.Launch("crossentropy_forward_backward", Dim3.Blocks(n, Threads("crossentropy_forward_backward")), Threads("crossentropy_forward_backward"), 0,
            losses, KernelArg.Of(dlogits), logits, targets, dscale, n, v);

    public void ArgmaxForward(Buf<int> predictions, Buf<float> logits, int n, int v) =>
        Device.Launch("argmax_forward", Dim3.Blocks(n, Threads("argmax_forward")), Threads("argmax_forward"), 0, predictions, logits, n, v);

    public void ReadErrorsForward(Buf<int> errors, Buf<int> perSequence, Buf<int> tokens, Buf<float> logits, int b, int t, int v) =>
        Device.Launch("read_errors_forward", WarpBlocks(b, "read_errors_forward"), Threads("read_errors_forward"), 0,
            errors, perSequence, tokens, logits, b, t, v);

    void FreeOpBuffers()
    {
        foreach (var buffer in _alibiSlopes.Values) Device.Free(buffer);
        _alibiSlopes.Clear();
    }
}
