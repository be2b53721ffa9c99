using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Cpu;

/// <summary>cvt.rna.tf32.f32 computed in double, independently of the bit tricks of the implementations.</summary>
public static class Tf32Reference
{
    /// <summary>The TF32 pattern of x: the nearest multiple of the TF32 quantum, ties away from zero.</summary>
    public static uint Round(float x)
    {
        uint bits = BitConverter.SingleToUInt32Bits(x);
        if (!float.IsFinite(x)) return bits & 0xffffe000u;  // the SASS (FSETP.GEU |x|, +INF) only clears the low bits of infinities and NaNs
        if (x == 0) return bits;
        double magnitude = Math.Abs((double)x);
        int exponent = Math.Max(Math.ILogB(magnitude), -126);            // subnormals share the smallest normal's quantum
        double quantum = Math.ScaleB(1.0, exponent - 10);                 // 10 stored mantissa bits
        double rounded = Math.Floor(magnitude / quantum + 0.5) * quantum; // exact: a float has at most 24 significant bits
        float result = rounded >= Math.ScaleB(1.0, 128) ? float.PositiveInfinity : (float)rounded;
        return BitConverter.SingleToUInt32Bits(x < 0 ? -result : result);
    }

    /// <summary>Edge cases (zeros, ties and their neighbours, carries into the exponent, subnormals, overflow, infinities, NaNs) and random patterns.</summary>
    public static float[] Values(int random, int seed)
    {
        var values = new List<float>
        {
            0f, -0f, 1f, -1f, float.Epsilon, -float.Epsilon, float.MaxValue, -float.MaxValue, float.PositiveInfinity, float.NegativeInfinity,
            float.NaN, BitConverter.UInt32BitsToSingle(0x7f800001u), BitConverter.UInt32BitsToSingle(0xffc01234u),
            BitConverter.UInt32BitsToSingle(0x007fffffu), BitConverter.UInt32BitsToSingle(0x00001000u), BitConverter.UInt32BitsToSingle(0x00000fffu),
        };
        foreach (uint low in new uint[] { 0x0fff, 0x1000, 0x1001, 0x1fff, 0x0001, 0x0000 })  // below, at, above a tie; the edges
            foreach (uint high in new uint[] { 0x3f800000, 0xbf800000, 0x3fffe000, 0xbfffe000, 0x7f7fe000, 0x00800000, 0x80002000 })
                values.Add(BitConverter.UInt32BitsToSingle(high | low));
        var r = new System.Random(seed);
        for (int i = 0; i < random; i++) values.Add(BitConverter.UInt32BitsToSingle((uint)r.NextInt64(0, 1L << 32)));
        return values.ToArray();
    }
}

/// <summary>
/// The CPU twins of the TF32 modes: <see cref="Tf32.Round"/> against the reference rounding, and
/// <see cref="TensorCoreTwin"/> (vectorized) against a scalar loop written straight from its documented order, so the
/// order the emulator is compared with is checked without the emulator.
/// </summary>
[Trait("Category", "Cpu")]
public sealed unsafe class TensorCoreTwinTests
{
    [Fact]
    public void Tf32_round_is_round_to_nearest_ties_away_at_10_mantissa_bits()
    {
        foreach (float x in Tf32Reference.Values(20000, 3))
        {
            uint actual = BitConverter.SingleToUInt32Bits(Tf32.Round(x)), expected = Tf32Reference.Round(x);
            Assert.True(expected == actual, $"Tf32.Round(0x{BitConverter.SingleToUInt32Bits(x):x8}) = 0x{actual:x8}, expected 0x{expected:x8}");
        }
    }

    /// <summary>
    /// The order the kernels add in, element by element: acc = 0; for each k step of 8 (first, first + stride, ...
    /// below end) the 8 products lo_a hi_b, then hi_a lo_b (3xTF32), then hi_a hi_b, each rounded, then added.
    /// </summary>
    static float Ordered(Func<int, float> a, Func<int, float> b, int first, int stride, int end, MatmulPrecision precision)
    {
        float acc = 0f;
        for (int step = first; step < end; step += stride)
        {
            int last = Math.Min(step + 8, end);
            for (int term = precision == MatmulPrecision.Tf32x3 ? 0 : 2; term < 3; term++)
                for (int k = step; k < last; k++)
                {
                    float x = a(k), y = b(k);
                    float xh = Tf32.Round(x), yh = Tf32.Round(y);
                    float xa = term == 0 ? Tf32.Round(x - xh) : xh, yb = term == 1 ? Tf32.Round(y - yh) : yh;
                    float product = xa * yb;
                    acc += product;
                }
        }
        return acc;
    }

    static float[] Random(int n, int seed)
    {
        var r = new System.Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(r.NextDouble() * 2 - 1)).ToArray();
    }

    public static TheoryData<int, int, int, MatmulPrecision> Shapes
    {
        get
        {
            var data = new TheoryData<int, int, int, MatmulPrecision>();
            foreach (var precision in new[] { MatmulPrecision.Tf32x3, MatmulPrecision.Tf32 })
                foreach (var (n, c, oc) in new[] { (1, 1, 1), (37, 21, 70), (19, 67, 5), (2000, 9, 31), (1500, 40, 33) })
                    data.Add(n, c, oc, precision);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void The_twins_add_in_the_documented_order(int n, int c, int oc, MatmulPrecision precision)
    {
        var geometry = TensorCoreGeometry.Default;
        float[] x = Random(n * c, 1), w = Random(oc * c, 2), dy = Random(n * oc, 3), dx0 = Random(n * c, 4), dw0 = Random(oc * c, 5);
        float[] y = new float[n * oc], dx = (float[])dx0.Clone(), dw = (float[])dw0.Clone();
        fixed (float* px = x, pw = w, pdy = dy, py = y, pdx = dx, pdw = dw)
        {
            TensorCoreTwin.Forward(py, px, pw, n, c, oc, precision);
            TensorCoreTwin.InputGradient(pdx, pdy, pw, n, c, oc, precision);
            TensorCoreTwin.WeightGradient(pdw, pdy, px, n, c, oc, precision);
        }
        for (int i = 0; i < n; i++)
            for (int o = 0; o < oc; o++)
            {
                float expected;
                if (geometry.IsNarrow(oc))
                {
                    // the narrow forward: C cut into slices; in each, warp w takes the slice's steps 8w, 8w + 32, ..., the
                    // warps added in order; the slices' sums added in slice order from 0 (one slice: its sum itself)
                    var forwardSplit = geometry.NarrowForwardSplit(n, c);
                    expected = 0f;
                    for (int s = 0; s < forwardSplit.Slices; s++)
                    {
                        int begin = s * forwardSplit.SliceLength, end = Math.Min(c, begin + forwardSplit.SliceLength);
                        float slice = 0f;
                        for (int warp = 0; warp < geometry.NarrowWarps; warp++)
                            slice += Ordered(k => x[i * c + k], k => w[o * c + k], begin + 8 * warp, 8 * geometry.NarrowWarps, end, precision);
                        expected = forwardSplit.Slices == 1 ? slice : expected + slice;
                    }
                }
                else expected = Ordered(k => x[i * c + k], k => w[o * c + k], 0, 8, c, precision);
                Assert.True(expected == y[i * oc + o], $"output[{i},{o}] = {y[i * oc + o]:R}, expected {expected:R}");
            }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < c; j++)
            {
                float expected = dx0[i * c + j] + Ordered(k => dy[i * oc + k], k => w[k * c + j], 0, 8, oc, precision);
                Assert.True(expected == dx[i * c + j], $"dinput[{i},{j}] = {dx[i * c + j]:R}, expected {expected:R}");
            }
        var split = geometry.WeightSplit(n, c, oc);
        for (int o = 0; o < oc; o++)
            for (int j = 0; j < c; j++)
            {
                float sum = 0f;
                for (int s = 0; s < split.Slices; s++)  // partial sums per slice, added in slice order
                    sum += Ordered(k => dy[k * oc + o], k => x[k * c + j], s * split.SliceLength, 8, Math.Min(n, (s + 1) * split.SliceLength), precision);
                float expected = split.Slices == 1 ? dw0[o * c + j] + Ordered(k => dy[k * oc + o], k => x[k * c + j], 0, 8, n, precision) : dw0[o * c + j] + sum;
                Assert.True(expected == dw[o * c + j], $"dweight[{o},{j}] ({split.Slices} slices) = {dw[o * c + j]:R}, expected {expected:R}");
            }
    }

    [Fact]
    public void Long_weight_gradients_are_split_into_slices_of_whole_k_steps()
    {
        var geometry = TensorCoreGeometry.Default;
        var tile = geometry.WeightSplit(8192, 512, 512);  // the baseline's attention output: 64 tiles, 256 k slices of 32
        Assert.Equal(19 * 32, tile.SliceLength);          // 792 blocks wanted: 13 slices, 256 / 13 = 19 granules each
        Assert.Equal(14, tile.Slices);
        Assert.True((long)tile.Slices * 64 >= KSplit.TargetBlocks(geometry.TileBlocksPerSm));
        var narrow = geometry.WeightSplit(8192, 512, 5);  // the head: 16 column blocks of 32
        Assert.Equal(40, narrow.SliceLength);             // 2 x 132 x 12 = 3168 blocks wanted: 198 slices, 1024 / 198 = 5 mma steps each
        Assert.Equal(205, narrow.Slices);
        Assert.Equal(1, geometry.WeightSplit(100, 512, 512).Slices);  // too short to split
        var forward = geometry.NarrowForwardSplit(8192, 512);  // the head's forward: 512 row blocks, 64 mma steps of C
        Assert.Equal(72, forward.SliceLength);                  // 7 slices wanted, 64 / 7 = 9 steps each
        Assert.Equal(8, forward.Slices);
        Assert.Equal(1, geometry.NarrowForwardSplit(8192, 16).Slices);  // two steps: fewer than one per warp
    }
}
