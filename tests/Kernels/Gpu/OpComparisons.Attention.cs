using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

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
        // the paper's longest sequence (linear positions tested on length 834) at both ends of the head dimensions
        { 1, 834, 16, 2, true, 0.1f, 0.2f, 1f },  // dh 8 (the generic kernels)
        { 1, 834, 256, 1, false, 0f, 0.3f, 1f },  // dh 256 (the generic kernels)
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

public abstract partial class OpComparisons
{
    public static TheoryData<int, int, int, int, bool, float, float, float, MatmulPrecision> TiledAttentionCases => new()
    {
        // b, t, c, heads, alibi, dropout, entropy scale, temperature, precision: every compiled head dimension (16, 32, 64, 128)
        // in every precision, T not a multiple of the 64-row blocks or 32-key stages; d_h 24 has no instance (generic kernels)
        { 2, 37, 32, 2, true, 0.2f, 0.3f, 0.5f, MatmulPrecision.Fp32 },
        { 1, 45, 32, 2, false, 0f, 0f, 1f, MatmulPrecision.Tf32 },
        { 2, 29, 32, 2, true, 0.1f, 0.5f, 2f, MatmulPrecision.Tf32x3 },
        { 1, 45, 64, 2, false, 0.1f, 0.5f, 1f, MatmulPrecision.Fp32 },
        { 2, 33, 64, 2, true, 0f, 0.2f, 0.5f, MatmulPrecision.Tf32 },
        { 1, 70, 64, 2, false, 0f, 0f, 1f, MatmulPrecision.Tf32x3 },
        { 1, 70, 64, 1, true, 0f, 0.3f, 1f, MatmulPrecision.Fp32 },
        { 1, 41, 64, 1, false, 0.2f, 0f, 2f, MatmulPrecision.Tf32 },
        { 2, 37, 128, 2, true, 0.1f, 0.2f, 1f, MatmulPrecision.Tf32x3 },
        { 1, 33, 128, 1, false, 0f, 0.3f, 0.5f, MatmulPrecision.Fp32 },
        { 1, 35, 128, 1, true, 0.1f, 0f, 1f, MatmulPrecision.Tf32 },
        { 1, 67, 128, 1, false, 0f, 0.5f, 2f, MatmulPrecision.Tf32x3 },
        { 2, 31, 48, 2, true, 0.1f, 0.2f, 0.5f, MatmulPrecision.Tf32x3 },  // d_h 24: the generic kernels, precision ignored
        // d_h 64, T 150: three query blocks and five key stages, blocks and warps skipping the stages above them
        { 1, 150, 128, 2, true, 0.1f, 0.3f, 1f, MatmulPrecision.Fp32 },
        { 1, 150, 64, 1, false, 0f, 0.2f, 1f, MatmulPrecision.Tf32x3 },
        { 1, 150, 64, 1, true, 0.1f, 0f, 0.5f, MatmulPrecision.Tf32 },
        // T 834, the paper's longest sequence: 14 query blocks, 27 key stages
        { 1, 834, 64, 1, true, 0.1f, 0.2f, 1f, MatmulPrecision.Fp32 },
        { 1, 834, 256, 2, false, 0f, 0.3f, 1f, MatmulPrecision.Tf32x3 },
    };

    /// <summary>
    /// The tiled attention instances against the CPU twin (which computes in FP32 whatever the precision). FP32 and 3xTF32
    /// (products within about 3 u^2 = 2^-20 of FP32's, u = 2^-11 the TF32 unit roundoff) meet atol = rtol = 1e-5. TF32
    /// rounds every operand: the inputs are rounded to TF32 first, so Q K^T and dO V^T are exact up to FP32 summation
    /// order and only the kernels' roundings of P (in P V and P^T dO) and dS (in dS K and dS^T Q) remain, each a relative
    /// error of at most u per term; with the terms here (|p| &lt;= 1 times |v|, |dO| &lt;= 1.5; dS times |q|, |k| &lt;= 1.5) an
    /// output is off by at most u times the sum of its terms' magnitudes, bounded by atol = rtol = 4u = 2^-9.
    /// </summary>
    [Theory]
    [MemberData(nameof(TiledAttentionCases))]
    public void Tiled_attention_matches_the_twin(int b, int t, int c, int heads, bool alibi, float dropout, float entropyScale, float temperature,
        MatmulPrecision precision)
    {
        bool tf32 = precision == MatmulPrecision.Tf32;
        float[] Input(float[] x) => tf32 ? x.Select(Tf32.Round).ToArray() : x;
        var qkv = Input(Random(b * t * 3 * c, 16 + t, 1.5));
        var dout = Input(Random(b * t * c, 17 + t));
        var dqkv0 = Random(b * t * 3 * c, 18);
        var options = new AttentionOptions(alibi, dropout > 0 ? new DropoutSpec(dropout, 5, 9) : DropoutSpec.None, temperature, precision);
        Action<ComparisonSession> Run(AttentionOptions options) => s =>
        {
            var q = s.F(qkv);
            var output = s.Zeros(b * t * c);
            var saved = s.Zeros(s.Ops.AttentionSavedLength(b, t, heads));
            s.Ops.AttentionForward(output, saved, q, options, b, t, c, heads);
            var entropy = s.Zeros(1);
            s.Ops.AttentionEntropyForward(entropy, saved, b, t, heads);
            var dqkv = s.F(dqkv0);
            s.Ops.AttentionBackward(dqkv, s.F(dout), q, output, saved, entropyScale, options, b, t, c, heads);
            s.Output("attention output", output);
            s.Output("attention entropy", entropy);
            s.Output("attention dqkv", dqkv);
        };
        double tolerance = tf32 ? Math.Pow(2, -9) : KernelAssert.Tolerance;
        Compare(Run(options), tolerance, tolerance);
        var device = Open();
        var first = KernelComparison.OnDevice(device, Run(options));
        KernelComparison.AssertClose(first, KernelComparison.OnDevice(device, Run(options)), 0, 0);  // two runs: bit-identical
        if (precision != MatmulPrecision.Fp32)
        {
            // the precision reaches the kernels: the tensor-core instances round, the generic kernels (no instance) ignore it
            var fp32 = KernelComparison.OnDevice(device, Run(options with { Precision = MatmulPrecision.Fp32 }));
            bool identical = first.Floats.Zip(fp32.Floats).All(p => p.First.Values.AsSpan().SequenceEqual(p.Second.Values));
            Assert.Equal(AttentionGeometry.Kernel("attention_forward", c / heads, precision) == null, identical);
        }
    }
}

/// <summary>Which attention kernel runs for a head dimension and precision (no device needed).</summary>
public sealed class AttentionGeometryTests
{
    [Fact]
    public void Attention_instances_exist_for_the_compiled_head_dimensions_only()
    {
        Assert.Equal("attention_forward_d64_3xtf32", AttentionGeometry.Kernel("attention_forward", 64, MatmulPrecision.Tf32x3));
        Assert.Equal("attention_backward_dkv_d16_tf32", AttentionGeometry.Kernel("attention_backward_dkv", 16, MatmulPrecision.Tf32));
        Assert.Equal("attention_backward_dq_d128", AttentionGeometry.Kernel("attention_backward_dq", 128, MatmulPrecision.Fp32));
        Assert.Null(AttentionGeometry.Kernel("attention_forward", 24, MatmulPrecision.Fp32));
        var table = KernelSource.Default.Table.Select(e => e.Name).ToHashSet();
        foreach (var family in AttentionGeometry.Families)
            foreach (int dh in AttentionGeometry.HeadDims)
                foreach (var precision in Enum.GetValues<MatmulPrecision>())
                {
                    string kernel = AttentionGeometry.Kernel(family, dh, precision)!;
                    Assert.Contains(kernel, table);
                    Assert.Equal((family, dh), AttentionGeometry.Parse(kernel)!.Value);
                }
        Assert.Null(AttentionGeometry.Parse("attention_forward"));
        Assert.Null(AttentionGeometry.Parse("attention_backward_preprocess"));
    }
}
