using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
    /// <summary>output (N,C) = table (V,C) [tokens (N)]: a thread per element (grid-stride).</summary>
    public void EmbeddingForward(Buf<float> output, Buf<int> tokens, Buf<float> table, int n, int c) =>
        Launch1D("embedding_forward", (long)n * c, output, tokens, table, n, c);

    /// <summary>
    /// dtable (V,C) += scatter of doutput (N,C) by tokens (N): parallel over tokens in chunks of EMBEDDING_CHUNK_ROWS rows,
    /// each chunk's rows added in order into its own partial sums (chunks, V, C), then the chunks added in order. No atomics.
    /// </summary>
    public void EmbeddingBackward(Buf<float> dtable, Buf<float> doutput, Buf<int> tokens, int n, int v, int c)
    {
        if (n <= 0) return;
        int chunks = (int)Dim3.Blocks(n, _source.Define("EMBEDDING_CHUNK_ROWS"));
        long count = (long)v * c;
        var partials = Partials(chunks * count);
        Device.Launch("embedding_backward_partial", new Dim3(Dim3.Blocks(c, Threads("embedding_backward_partial")), (uint)chunks),
            Threads("embedding_backward_partial"), 0, partials, doutput, tokens, n, v, c);
        Launch1D("embedding_backward_reduce", count, dtable, partials, chunks, count);
    }

    /// <summary>x (B,T,C) += scale * table (>=T,C) [t].</summary>
    public void PositionAddForward(Buf<float> x, Buf<float> table, float scale, int b, int t, int c)
    {
        if (table.Length < (long)t * c) throw new ArgumentException($"position table has {table.Length / c} rows, sequence length is {t}");
        Launch1D("position_add_forward", (long)b * t * c, x, table, scale, b, t, c);
    }

    /// <summary>dtable (T,C) += scale * sum over b of dx (B,T,C): a thread per dtable element, b in order.</summary>
    public void PositionAddBackward(Buf<float> dtable, Buf<float> dx, float scale, int b, int t, int c) =>
        Device.Launch("position_add_backward", Dim3.Blocks((long)t * c, Threads("position_add_backward")), Threads("position_add_backward"), 0,
            dtable, dx, scale, b, t, c);

    /// <summary>table (T,C): row t = [sin(t f_i), cos(t f_i)], f_i = 10000^(-i/(C/2)).</summary>
    public void SinusoidalTable(Buf<float> table, int t, int c) =>
        Device.Launch("sinusoidal_table", Dim3.Blocks((long)t * c, Threads("sinusoidal_table")), Threads("sinusoidal_table"), 0, table, t, c);

    /// <summary>x (B,T,C) += scale[0] * table (>=T,C) [t], the scale read on the device.</summary>
    public void PositionScaleForward(Buf<float> x, Buf<float> table, Buf<float> scale, int b, int t, int c)
    {
        if (table.Length < (long)t * c) throw new ArgumentException($"position table has {table.Length / c} rows, sequence length is {t}");
        Launch1D("position_scale_forward", (long)b * t * c, x, table, scale, b, t, c);
    }

    /// <summary>dscale (1) += sum of dx (B,T,C) * table [t]: one block, fixed order.</summary>
    public void PositionScaleBackward(Buf<float> dscale, Buf<float> dx, Buf<float> table, int b, int t, int c) =>
        Device.Launch("position_scale_backward", 1, Threads("position_scale_backward"), 0, dscale, dx, table, b, t, c);

    /// <summary>x (B,T,C): x[b,t,C-1] += t / divisor; a thread per row.</summary>
    public void LinearPositionForward(Buf<float> x, float divisor, int b, int t, int c) =>
        Device.Launch("linear_position_forward", Dim3.Blocks((long)b * t, Threads("linear_position_forward")), Threads("linear_position_forward"), 0,
            x, divisor, b, t, c);

    /// <summary>output (B,T,C) = [table (V,C-1) [tokens], t / divisor]: a thread per element (grid-stride).</summary>
    public void LinearPositionEmbeddingForward(Buf<float> output, Buf<int> tokens, Buf<float> table, float divisor, int b, int t, int c) =>
        Launch1D("linear_position_embedding_forward", (long)b * t * c, output, tokens, table, divisor, b, t, c);

    /// <summary>dtable (V,C-1) += doutput (N,C) [:, :C-1] scattered by tokens: a thread per dtable element, rows in order (no atomics).</summary>
    public void LinearPositionEmbeddingBackward(Buf<float> dtable, Buf<float> doutput, Buf<int> tokens, int n, int v, int c) =>
        Device.Launch("linear_position_embedding_backward", Dim3.Blocks((long)v * (c - 1), Threads("linear_position_embedding_backward")),
            Threads("linear_position_embedding_backward"), 0, dtable, doutput, tokens, n, v, c);

    /// <summary>qkv (B,T,3C): the first rotaryDim dims of q and k (and v when rotateValues) of every head rotated in place.</summary>
    public void RopeForward(Buf<float> qkv, int b, int t, int c, int heads, int rotaryDim, bool rotateValues) =>
        Rope(qkv, b, t, c, heads, rotaryDim, rotateValues, 1f);

    /// <summary>dqkv (B,T,3C): the transpose rotation, in place.</summary>
    public void RopeBackward(Buf<float> dqkv, int b, int t, int c, int heads, int rotaryDim, bool rotateValues) =>
        Rope(dqkv, b, t, c, heads, rotaryDim, rotateValues, -1f);

    /// <summary>qkv (B,T,3C) rotated by sign * angle: a thread per rotated pair, the angles' cos and sin from <see cref="RopeTable"/>.</summary>
    void Rope(Buf<float> qkv, int b, int t, int c, int heads, int rot, bool values, float sign)
    {
        if (rot < 2 || rot % 2 != 0 || rot > c / heads) throw new ArgumentException($"rotary dimension {rot} must be even and in 2..{c / heads}");
        int parts = values ? 3 : 2;
        long pairs = (long)b * t * parts * heads * (rot / 2);
        Device.Launch("rope_rotate", Dim3.Blocks(pairs, Threads("rope_rotate")), Threads("rope_rotate"), 0, qkv, RopeTable(t, rot), b, t, c, heads, rot, parts, sign);
    }

    readonly Dictionary<(int T, int Rot), Buf<float>> _ropeTables = [];

    /// <summary>(T, rot/2, 2) cos and sin of the rotary angles, built on the device once per length and rotary dimension.</summary>
    Buf<float> RopeTable(int t, int rot)
    {
        if (_ropeTables.TryGetValue((t, rot), out var table)) return table;
        table = Device.Allocate<float>((long)t * rot);
        Device.Launch("rope_table", Dim3.Blocks((long)t * (rot / 2), Threads("rope_table")), Threads("rope_table"), 0, table, t, rot);
        _ropeTables[(t, rot)] = table;
        return table;
    }

    void FreeRopeTables()
    {
        foreach (var table in _ropeTables.Values) Device.Free(table);
        _ropeTables.Clear();
    }
}
