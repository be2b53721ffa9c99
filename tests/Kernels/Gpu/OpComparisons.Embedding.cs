namespace RawFlipFlop.Tests.Kernels.Gpu;

public abstract partial class OpComparisons
{
    [Fact]
    public void Embedding_and_positions()
    {
        int b = 3, t = 21, c = 24, v = 5;
        var tokens = RandomInts(b * t, v, 3);
        var table = Random(v * c, 4); var positions = Random(32 * c, 5); var x = Random(b * t * c, 6); var g = Random(b * t * c, 7);
        var dtable0 = Random(v * c, 8); var dpositions0 = Random(32 * c, 9);
        var scale = Random(1, 11); var narrowTable = Random(v * (c - 1), 12); var dnarrow0 = Random(v * (c - 1), 13);
        Compare(s =>
        {
            var embedded = s.Zeros(b * t * c);
            var tok = s.I(tokens);
            s.Ops.EmbeddingForward(embedded, tok, s.F(table), b * t, c);
            var dtable = s.F(dtable0);
            s.Ops.EmbeddingBackward(dtable, s.F(g), tok, b * t, v, c);
            var xs = s.F(x);
            s.Ops.PositionAddForward(xs, s.F(positions), 0.3f, b, t, c);
            var dpositions = s.F(dpositions0);
            s.Ops.PositionAddBackward(dpositions, s.F(g), 0.3f, b, t, c);
            var sinusoidal = s.Zeros(600 * 64);
            s.Ops.SinusoidalTable(sinusoidal, 600, 64);
            var linear = s.F(x);
            s.Ops.LinearPositionForward(linear, 17f, b, t, c);
            var scaled = s.F(x);
            s.Ops.PositionScaleForward(scaled, s.F(positions), s.F(scale), b, t, c);
            var dscale = s.F([0.5f]);
            s.Ops.PositionScaleBackward(dscale, s.F(g), s.F(positions), b, t, c);
            var coordinate = s.Zeros(b * t * c);
            s.Ops.LinearPositionEmbeddingForward(coordinate, tok, s.F(narrowTable), 17f, b, t, c);
            var dnarrow = s.F(dnarrow0);
            s.Ops.LinearPositionEmbeddingBackward(dnarrow, s.F(g), tok, b * t, v, c);
            s.Output("embedding", embedded);
            s.Output("embedding backward", dtable);
            s.Output("position add", xs);
            s.Output("position add backward", dpositions);
            s.Output("sinusoidal table", sinusoidal);
            s.Output("linear position", linear);
            s.Output("position scale", scaled);
            s.Output("position scale backward", dscale);
            s.Output("linear position embedding", coordinate);
            s.Output("linear position embedding backward", dnarrow);
        });
    }

    /// <summary>700 tokens: three chunks of the embedding backward's 256 rows, the last one partial.</summary>
    [Fact]
    public void Embedding_backward_over_several_chunks()
    {
        int n = 700, c = 40, v = 5;
        var tokens = RandomInts(n, v, 21);
        var g = Random(n * c, 22);
        var dtable0 = Random(v * c, 23);
        Compare(s =>
        {
            var dtable = s.F(dtable0);
            s.Ops.EmbeddingBackward(dtable, s.F(g), s.I(tokens), n, v, c);
            s.Output("embedding backward", dtable);
        });
    }

    [Theory]
    [InlineData(8, false)] // rope-full at d_h = 8
    [InlineData(8, true)]
    [InlineData(32, true)] // rope at d_h = 48: 32 dims of q, k and v
    [InlineData(6, false)]
    public void Rope_forward_and_backward(int rot, bool values)
    {
        int b = 2, t = 50, heads = 4, c = heads * (rot == 32 ? 48 : 8);
        var qkv = Random(b * t * 3 * c, 10);
        Compare(s =>
        {
            var forward = s.F(qkv);
            s.Ops.RopeForward(forward, b, t, c, heads, rot, values);
            var backward = s.F(qkv);
            s.Ops.RopeBackward(backward, b, t, c, heads, rot, values);
            s.Output("rope", forward);
            s.Output("rope backward", backward);
        });
    }
}
