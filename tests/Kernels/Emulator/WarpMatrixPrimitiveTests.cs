using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Tests.Kernels.Cpu;

namespace RawFlipFlop.Tests.Kernels.Emulator;

/// <summary>
/// kernels.cu's warp-matrix primitives in the emulator (test kernels in tests/Kernels/test_warp_matrix.cu, compiled
/// after kernels.cu's primitives section): each against a scalar reference, with the PTX ISA's fragment tables stated
/// here independently of the emulator, and the emulator's checks of the warp-collective rules.
/// </summary>
[Trait("Category", "Emulator")]
public sealed class WarpMatrixPrimitiveTests
{
    static EmulatedDevice Open(ulong? shuffle = null)
    {
        Toolchain.RequireCompiler();
        return new EmulatedDevice(EmulatorLibrary.Load(Toolchain.WarpMatrixKernels), new EmulatorOptions(shuffle));
    }

    // ---- The PTX ISA, section 9.7.14.5.7 "Matrix Fragments for mma.m16n8k8", .tf32 inputs and .f32 accumulators ----
    // groupID = %laneid >> 2, threadID_in_group = %laneid % 4;
    //   A (16 x 8), a0..a3: row = groupID for a0 and a2, groupID + 8 for a1 and a3;
    //                       col = threadID_in_group for a0 and a1, threadID_in_group + 4 for a2 and a3.
    //   B (8 x 8), b0, b1:  row = threadID_in_group for b0, threadID_in_group + 4 for b1; col = groupID.
    //   C, D (16 x 8), c0..c3: row = groupID for c0 and c1, groupID + 8 for c2 and c3;
    //                          col = threadID_in_group * 2 + (i & 0x1).

    static int GroupId(int lane) => lane >> 2;
    static int ThreadInGroup(int lane) => lane % 4;

    static (int Row, int Col) AElement(int lane, int i) =>
        (i is 0 or 2 ? GroupId(lane) : GroupId(lane) + 8, i is 0 or 1 ? ThreadInGroup(lane) : ThreadInGroup(lane) + 4);

    static (int Row, int Col) BElement(int lane, int i) => (i == 0 ? ThreadInGroup(lane) : ThreadInGroup(lane) + 4, GroupId(lane));

    static (int Row, int Col) CElement(int lane, int i) => (i < 2 ? GroupId(lane) : GroupId(lane) + 8, ThreadInGroup(lane) * 2 + (i & 1));

    [Fact]
    public void The_stated_fragment_tables_give_every_element_to_exactly_one_lane_register()
    {
        static void Covers(int rows, int cols, int registers, Func<int, int, (int Row, int Col)> element)
        {
            var seen = new HashSet<(int, int)>();
            for (int lane = 0; lane < 32; lane++)
                for (int i = 0; i < registers; i++)
                {
                    var (r, c) = element(lane, i);
                    Assert.InRange(r, 0, rows - 1);
                    Assert.InRange(c, 0, cols - 1);
                    Assert.True(seen.Add((r, c)), $"element ({r},{c}) held twice");
                }
            Assert.Equal(rows * cols, seen.Count);
        }
        Covers(16, 8, 4, AElement);
        Covers(8, 8, 2, BElement);
        Covers(16, 8, 4, CElement);
    }

    // ---- scalar references ----

    /// <summary>The TF32 value the tensor cores read from a register: its 13 low mantissa bits ignored.</summary>
    static float Operand(uint bits) => BitConverter.UInt32BitsToSingle(bits & 0xffffe000u);

    /// <summary>D = C + A B with TF32 operands, each row's products added in k order, one FP32 rounding per addition.</summary>
    static float[,] MmaReference(uint[,] a, uint[,] b, float[,] c)
    {
        var d = new float[16, 8];
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++)
            {
                float acc = c[m, n];
                for (int k = 0; k < 8; k++)
                {
                    float product = Operand(a[m, k]) * Operand(b[k, n]);  // exact: 11 x 11 significant bits
                    acc += product;
                }
                d[m, n] = acc;
            }
        return d;
    }

    static uint RandomPattern(System.Random random) => BitConverter.SingleToUInt32Bits((float)(random.NextDouble() * 4 - 2));

    [Fact]
    public void Tf32_round_is_round_to_nearest_ties_away_at_10_mantissa_bits()
    {
        var values = Tf32Reference.Values(4000, 5);
        using var device = Open();
        var input = device.AllocateFrom<float>(values);
        var output = device.Allocate<uint>(values.Length);
        device.Launch("tf32_round_test", 4, 256, 0, output, input, values.Length);
        var actual = device.ToArray(output);
        for (int i = 0; i < values.Length; i++)
            Assert.True(Tf32Reference.Round(values[i]) == actual[i],
                $"tf32_round(0x{BitConverter.SingleToUInt32Bits(values[i]):x8}) = 0x{actual[i]:x8}, expected 0x{Tf32Reference.Round(values[i]):x8}");
    }

    /// <summary>Per-lane registers of warps of random A (16x8), B (8x8), C (16x8), laid out by the stated tables.</summary>
    sealed class MmaCase
    {
        public readonly uint[][,] A, B;
        public readonly float[][,] C;
        public readonly uint[] ARegisters, BRegisters;
        public readonly float[] CRegisters;

        public MmaCase(int warps, int seed)
        {
            var random = new System.Random(seed);
            A = new uint[warps][,]; B = new uint[warps][,]; C = new float[warps][,];
            ARegisters = new uint[warps * 32 * 4]; BRegisters = new uint[warps * 32 * 2]; CRegisters = new float[warps * 32 * 4];
            for (int w = 0; w < warps; w++)
            {
                A[w] = new uint[16, 8]; B[w] = new uint[8, 8]; C[w] = new float[16, 8];
                for (int m = 0; m < 16; m++)
                    for (int k = 0; k < 8; k++) A[w][m, k] = RandomPattern(random);  // full FP32 patterns: the low 13 bits must be ignored
                for (int k = 0; k < 8; k++)
                    for (int n = 0; n < 8; n++) B[w][k, n] = RandomPattern(random);
                for (int m = 0; m < 16; m++)
                    for (int n = 0; n < 8; n++) C[w][m, n] = (float)(random.NextDouble() * 2 - 1);
                for (int lane = 0; lane < 32; lane++)
                {
                    int t = w * 32 + lane;
                    for (int i = 0; i < 4; i++) { var (r, c) = AElement(lane, i); ARegisters[t * 4 + i] = A[w][r, c]; }
                    for (int i = 0; i < 2; i++) { var (r, c) = BElement(lane, i); BRegisters[t * 2 + i] = B[w][r, c]; }
                    for (int i = 0; i < 4; i++) { var (r, c) = CElement(lane, i); CRegisters[t * 4 + i] = C[w][r, c]; }
                }
            }
        }

        /// <summary>D of warp w from the device's per-lane registers, placed by the stated C/D table.</summary>
        public static float[,] D(float[] registers, int w)
        {
            var d = new float[16, 8];
            for (int lane = 0; lane < 32; lane++)
                for (int i = 0; i < 4; i++)
                {
                    var (r, c) = CElement(lane, i);
                    d[r, c] = registers[(w * 32 + lane) * 4 + i];
                }
            return d;
        }
    }

    [Theory]
    [InlineData(null)]
    [InlineData(7UL)]
    public void Mma_m16n8k8_tf32_matches_the_scalar_reference_through_the_isa_fragment_tables(ulong? shuffle)
    {
        const int warps = 4;
        var test = new MmaCase(warps, 11);
        using var device = Open(shuffle);
        var output = device.Allocate<float>(warps * 32 * 4);
        device.Launch("mma_test", 1, warps * 32, 0, output, device.AllocateFrom<uint>(test.ARegisters), device.AllocateFrom<uint>(test.BRegisters),
            device.AllocateFrom<float>(test.CRegisters));
        var registers = device.ToArray(output);
        for (int w = 0; w < warps; w++)
        {
            var expected = MmaReference(test.A[w], test.B[w], test.C[w]);
            var actual = MmaCase.D(registers, w);
            for (int m = 0; m < 16; m++)
                for (int n = 0; n < 8; n++)
                    Assert.True(expected[m, n] == actual[m, n], $"warp {w}: D[{m},{n}] = {actual[m, n]:R}, expected {expected[m, n]:R}");
        }
    }

    [Fact]
    public void Mma_ignores_the_13_low_bits_of_its_operands()
    {
        var test = new MmaCase(1, 12);
        var cleared = new MmaCase(1, 12);
        for (int i = 0; i < cleared.ARegisters.Length; i++) cleared.ARegisters[i] &= 0xffffe000u;
        for (int i = 0; i < cleared.BRegisters.Length; i++) cleared.BRegisters[i] &= 0xffffe000u;
        using var device = Open();
        float[] Run(MmaCase c)
        {
            var output = device.Allocate<float>(32 * 4);
            device.Launch("mma_test", 1, 32, 0, output, device.AllocateFrom<uint>(c.ARegisters), device.AllocateFrom<uint>(c.BRegisters),
                device.AllocateFrom<float>(c.CRegisters));
            return device.ToArray(output);
        }
        Assert.Equal(Run(cleared), Run(test));
        Assert.NotEqual(test.ARegisters, cleared.ARegisters);  // the patterns did carry low bits
    }

    [Fact]
    public void A_warp_sequence_runs_its_mmas_as_separate_instructions_would()
    {
        const int count = 6;  // SEQUENCE_MMAS
        var steps = Enumerable.Range(0, count).Select(i => new MmaCase(1, 20 + i)).ToArray();
        var a = steps.SelectMany(s => s.ARegisters).ToArray();
        var b = steps.SelectMany(s => s.BRegisters).ToArray();
        var c = steps[0].CRegisters;
        using var device = Open();
        float[] Run(int sequence)
        {
            var output = device.Allocate<float>(32 * 4);
            device.Launch("mma_sequence_test", 1, 32, 0, output, device.AllocateFrom<uint>(a), device.AllocateFrom<uint>(b), device.AllocateFrom<float>(c), sequence);
            return device.ToArray(output);
        }
        var separate = Run(0);
        Assert.Equal(separate, Run(1));
        var expected = steps[0].C[0];
        foreach (var step in steps) expected = MmaReference(step.A[0], step.B[0], expected);
        var actual = MmaCase.D(separate, 0);
        for (int m = 0; m < 16; m++)
            for (int n = 0; n < 8; n++) Assert.Equal(expected[m, n], actual[m, n]);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(3UL)]
    public void Ldmatrix_x4_gives_each_lane_its_words_of_the_rows_the_lanes_address(ulong? shuffle)
    {
        // PTX ISA 9.7.14.5.15 (ldmatrix): for .x4, threads 8i..8i+7 give the addresses of rows 0..7 of matrix i; each
        // thread receives, in destination register i, its fragment of matrix i: row laneid / 4, the 32 bits at column
        // pairs 2 (laneid % 4) and 2 (laneid % 4) + 1 of the 16-bit elements, i.e. 32-bit word laneid % 4 of the row.
        const int rows = 64;  // LDM_ROWS
        var random = new System.Random(9);
        var words = Enumerable.Range(0, rows * 4).Select(_ => (uint)random.NextInt64(0, 1L << 32)).ToArray();
        var rowOf = Enumerable.Range(0, rows).OrderBy(_ => random.Next()).Take(32).ToArray();  // each lane's row, distinct, any order
        using var device = Open(shuffle);
        var output = device.Allocate<uint>(32 * 4);
        device.Launch("ldmatrix_test", 1, 32, 0, output, device.AllocateFrom<uint>(words), device.AllocateFrom<int>(rowOf));
        var actual = device.ToArray(output);
        for (int lane = 0; lane < 32; lane++)
            for (int i = 0; i < 4; i++)
            {
                int row = rowOf[8 * i + lane / 4];
                Assert.True(words[row * 4 + lane % 4] == actual[lane * 4 + i], $"lane {lane} register {i}");
            }
    }

    [Fact]
    public void Cp_async_lands_a_group_at_its_wait_and_zero_fills_an_empty_source()
    {
        const int threads = 64;
        var input = Enumerable.Range(0, threads * 16).Select(i => (float)i + 0.5f).ToArray();
        using var device = Open(shuffle: 5);
        var output = device.AllocateFrom<float>(Enumerable.Repeat(-7f, threads * 16).ToArray());
        device.Launch("cp_async_test", 1, threads, 0, output, device.AllocateFrom<float>(input));
        var o = device.ToArray(output);
        for (int t = 0; t < threads; t++)
        {
            for (int i = 0; i < 4; i++) Assert.Equal(input[t * 16 + i], o[t * 16 + i]);  // group 0 landed at wait_group 1
            // group 1 is still in flight at wait_group 1: its destination is undefined, which the emulator makes NaN
            Assert.True(float.IsNaN(o[t * 16 + 4]), $"thread {t}: a copy still in flight read {o[t * 16 + 4]}");
            Assert.Equal(input[t * 16 + 4], o[t * 16 + 5]);                               // landed at wait_group 0
            for (int i = 8; i < 12; i++) Assert.Equal(0f, o[t * 16 + i]);                 // source size 0: 16 zero bytes
        }
    }

    // ---- the warp-collective rules and the other checks: each broken kernel is reported, naming what is wrong ----

    [Fact]
    public void An_mma_that_some_lanes_of_the_warp_never_reach_is_reported()
    {
        using var device = Open();
        var output = device.Allocate<float>(64);
        var e = Assert.Throws<EmulatorException>(() => device.Launch("mma_divergent", 1, 64, 0, output, 16));
        Assert.Contains("kernel 'mma_divergent'", e.Message);
        Assert.Contains("mma.sync/ldmatrix", e.Message);
        Assert.Contains("lanes 0xffff0000 never reach", e.Message);
        device.Launch("mma_divergent", 1, 64, 0, output, 32);  // all lanes: fine
    }

    [Fact]
    public void An_mma_after_a_lane_has_exited_is_reported()
    {
        using var device = Open();
        var e = Assert.Throws<EmulatorException>(() => device.Launch("mma_after_exit", 1, 64, 0, device.Allocate<float>(64)));
        Assert.Contains("never reach (they have exited)", e.Message);
    }

    [Fact]
    public void An_mma_in_a_warp_of_fewer_than_32_threads_is_reported()
    {
        using var device = Open();
        var e = Assert.Throws<EmulatorException>(() => device.Launch("mma_all_threads", 1, 48, 0, device.Allocate<float>(48)));
        Assert.Contains("warp 1 has 16 lanes; the instruction needs all 32 (.aligned)", e.Message);
        device.Launch("mma_all_threads", 1, 64, 0, device.Allocate<float>(64));
    }

    [Fact]
    public void Lanes_of_one_warp_issuing_different_warp_matrix_instructions_are_reported()
    {
        using var device = Open();
        var e = Assert.Throws<EmulatorException>(() => device.Launch("mma_sequence_divergent", 1, 32, 0, device.Allocate<float>(32)));
        Assert.Contains("divergent warp-matrix instructions: instruction 1 of lane 1 is mma.sync.m16n8k8.tf32, of lane 0 missing", e.Message);
    }

    [Fact]
    public void Misaligned_ldmatrix_rows_and_cp_async_addresses_are_reported()
    {
        using var device = Open();
        var l = Assert.Throws<EmulatorException>(() => device.Launch("ldmatrix_misaligned", 1, 32, 0, device.Allocate<uint>(32)));
        Assert.Contains("ldmatrix: lane 3's row address", l.Message);
        Assert.Contains("is not 16-byte aligned", l.Message);
        var c = Assert.Throws<EmulatorException>(() => device.Launch("cp_async_misaligned", 1, 32, 0, device.AllocateFrom<float>(new float[64])));
        Assert.Contains("cp.async of 16 bytes", c.Message);
        Assert.Contains("both addresses must be 16-byte aligned", c.Message);
    }
}
