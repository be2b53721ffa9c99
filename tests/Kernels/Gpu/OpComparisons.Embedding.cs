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
            s.Output("embedding", embedded);
            s.Output("embedding backward", dtable);
            s.Output("position add", xs);
            s.Output("position add backward", dpositions);
            s.Output("sinusoidal table", sinusoidal);
            s.Output("linear position", linear);
        });
    }

    [Fact]
    public void Rope_forward_and_backward()
    {
        int b = 2, t = 50, c = 32, heads = 4;
        var qkv = Random(b * t * 3 * c, 10);
        Compare(s =>
        {
            var forward = s.F(qkv);
            s.Ops.RopeForward(forward, b, t, c, heads);
            var backward = s.F(qkv);
            s.Ops.RopeBackward(backward, b, t, c, heads);
            s.Output("rope", forward);
            s.Output("rope backward", backward);
        });
    }
}
