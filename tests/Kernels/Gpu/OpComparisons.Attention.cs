using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Kernels.Gpu;

public abstract partial class OpComparisons
{
    public static TheoryData<int, int, int, int, bool, float, float, float> AttentionCases => new()
    {
        // b, t, c, heads, alibi, dropout, entropy scale, temperature
        { 2, 37, 16, 2, false, 0f, 0f, 1f },
        { 1, 70, 64, 1, false, 0f, 0.3f, 1f },   // dh 64: 32-key tiles, several tiles per row
        { 2, 45, 12, 3, true, 0f, 0f, 1f },      // dh 4 < a warp; ALiBi with 3 heads
        { 2, 33, 32, 4, true, 0.2f, 0.5f, 1f },  // dropout on the weights and sharpening together
        { 1, 20, 256, 1, false, 0f, 0f, 1f },    // dh 256: a short key tile to fit shared memory
        { 2, 29, 16, 2, true, 0f, 0.2f, 0.25f }, // a temperature probe: ALiBi and scores divided by 4
        { 1, 41, 32, 2, false, 0.1f, 0f, 3f },   // softened attention with dropout
    };

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void Attention_forward_backward_entropy_and_analysis(int b, int t, int c, int heads, bool alibi, float dropout, float entropyScale, float temperature)
    {
        var qkv = Random(b * t * 3 * c, 16 + t, 1.5);
        var dout = Random(b * t * c, 17 + t);
        var dqkv0 = Random(b * t * 3 * c, 18);  // overwritten by the backward
        var options = new AttentionOptions(alibi, dropout > 0 ? new DropoutSpec(dropout, 5, 9) : DropoutSpec.None, temperature);
        Compare(s =>
        {
            var q = s.F(qkv);
            var output = s.Zeros(b * t * c);
            var saved = s.Zeros(s.Ops.AttentionSavedLength(b, t, heads));
            s.Ops.AttentionForward(output, saved, q, options, b, t, c, heads);
            var entropy = s.Zeros(1);
            s.Ops.AttentionEntropyForward(entropy, saved, b, t, heads);
            var dqkv = s.F(dqkv0);
            s.Ops.AttentionBackward(dqkv, s.F(dout), q, output, saved, entropyScale, options, b, t, c, heads);
            var probs = s.Zeros((long)b * heads * t * t); var scores = s.Zeros((long)b * heads * t * t);
            s.Ops.AttentionProbabilities(probs, scores, q, options, b, t, c, heads);
            s.Output("attention output", output);
            s.Output("attention entropy", entropy);
            s.Output("attention dqkv", dqkv);
            s.Output("attention probabilities", probs);
            s.Output("attention scores", scores);
        });
    }
}
