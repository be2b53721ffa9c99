using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
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
}
