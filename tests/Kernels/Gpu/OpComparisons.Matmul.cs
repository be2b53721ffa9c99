using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Kernels.Gpu;

public abstract partial class OpComparisons
{
    /// <summary>(N, C, OC): single elements, partial and several tiles in every dimension, sizes that are and are not multiples of 4 (the float4 paths).</summary>
    static readonly (int N, int C, int OC)[] s_matmulShapes = [(1, 1, 1), (17, 33, 65), (130, 257, 70), (64, 128, 256), (5, 4, 3), (129, 8, 131)];

    /// <summary>
    /// More shapes for the tensor-core kernels: narrow outputs (OC below 32: the narrow kernels, at full and partial
    /// n8 and m16 tiles), and weight gradients long enough in N to be split (several slices, a short last one).
    /// </summary>
    static readonly (int N, int C, int OC)[] s_tensorCoreShapes = [(100, 40, 5), (70, 129, 31), (33, 20, 17), (1000, 70, 40), (1000, 131, 9)];

    /// <summary>Every shape in FP32 (the SIMT kernels), and those plus the tensor-core shapes in 3xTF32 and TF32 (against the CPU twin of the same precision).</summary>
    public static TheoryData<int, int, int, MatmulPrecision> MatmulCases
    {
        get
        {
            var data = new TheoryData<int, int, int, MatmulPrecision>();
            foreach (var precision in Enum.GetValues<MatmulPrecision>())
                foreach (var (n, c, oc) in precision == MatmulPrecision.Fp32 ? s_matmulShapes : [.. s_matmulShapes, .. s_tensorCoreShapes])
                    data.Add(n, c, oc, precision);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(MatmulCases))]
    public void Matmul_forward_matches_its_CPU_twin(int n, int c, int oc, MatmulPrecision precision)
    {
        var output = Random((long)n * oc, 15, 5); var input = Random((long)n * c, 16); var weight = Random((long)oc * c, 17);
        foreach (bool withBias in new[] { true, false })
        {
            var bias = withBias ? Random(oc, 18) : [];
            Compare(s =>
            {
                var o = s.F(output);
                s.Ops.MatmulForward(o, s.F(input), s.F(weight), s.F(bias), n, c, oc, precision);
                s.Output($"matmul output ({n},{c},{oc}) {precision}{(withBias ? " with bias" : "")}", o);
            });
        }
    }

    [Theory]
    [MemberData(nameof(MatmulCases))]
    public void Matmul_backward_matches_its_CPU_twin(int n, int c, int oc, MatmulPrecision precision) => Compare(MatmulBackward(n, c, oc, 19, precision));

    [Theory]
    [InlineData(MatmulPrecision.Fp32)]
    [InlineData(MatmulPrecision.Tf32x3)]
    [InlineData(MatmulPrecision.Tf32)]
    public void Matmul_backward_without_dinput_and_dbias_computes_only_dweight(MatmulPrecision precision)
    {
        const int n = 33, c = 20, oc = 12;
        var dweight = Random(oc * c, 25); var doutput = Random(n * oc, 26); var input = Random(n * c, 27); var weight = Random(oc * c, 28);
        Compare(s =>
        {
            var dw = s.F(dweight);
            s.Ops.MatmulBackward(Buf<float>.Empty, dw, Buf<float>.Empty, s.F(doutput), s.F(input), s.F(weight), n, c, oc, precision);
            s.Output($"matmul dweight {precision}", dw);
        });
    }

    [Theory]
    [InlineData(MatmulPrecision.Fp32)]
    [InlineData(MatmulPrecision.Tf32x3)]
    [InlineData(MatmulPrecision.Tf32)]
    public void Matmul_on_unaligned_slices_matches(MatmulPrecision precision)
    {
        // Views that start one float into an allocation: the float4 and 16-byte cp.async paths must step aside.
        const int n = 40, c = 64, oc = 36;
        var input = Random(n * c + 1, 29);
        var weight = Random(oc * c + 1, 30);
        var doutput = Random(n * oc + 1, 31);
        Compare(s =>
        {
            var output = s.Zeros(n * oc + 1).Slice(1);
            var x = s.F(input).Slice(1); var w = s.F(weight).Slice(1);
            s.Ops.MatmulForward(output, x, w, Buf<float>.Empty, n, c, oc, precision);
            var dinput = s.Zeros(n * c + 1).Slice(1); var dweight = s.Zeros(oc * c + 1).Slice(1);
            s.Ops.MatmulBackward(dinput, dweight, Buf<float>.Empty, s.F(doutput).Slice(1), x, w, n, c, oc, precision);
            s.Output($"matmul output on unaligned views {precision}", output);
            s.Output($"matmul dinput on unaligned views {precision}", dinput);
            s.Output($"matmul dweight on unaligned views {precision}", dweight);
        });
    }

    [Theory]
    [InlineData(MatmulPrecision.Fp32)]
    [InlineData(MatmulPrecision.Tf32x3)]
    [InlineData(MatmulPrecision.Tf32)]
    public void Results_are_bit_reproducible(MatmulPrecision precision)
    {
        var device = Open();
        var scenario = MatmulBackward(1000, 96, 80, 31, precision);  // the tensor-core weight gradient in 4 slices
        KernelComparison.AssertClose(KernelComparison.OnDevice(device, scenario), KernelComparison.OnDevice(device, scenario), atol: 0, rtol: 0);
    }

    /// <summary>MatmulBackward at (N, C, OC) with every gradient, inputs from seeds firstSeed..firstSeed+5.</summary>
    static Action<ComparisonSession> MatmulBackward(int n, int c, int oc, int firstSeed, MatmulPrecision precision)
    {
        var dinput = Random((long)n * c, firstSeed); var dweight = Random((long)oc * c, firstSeed + 1); var dbias = Random(oc, firstSeed + 2);
        var doutput = Random((long)n * oc, firstSeed + 3); var input = Random((long)n * c, firstSeed + 4); var weight = Random((long)oc * c, firstSeed + 5);
        string shape = $"({n},{c},{oc}) {precision}";
        return s =>
        {
            var di = s.F(dinput); var dw = s.F(dweight); var db = s.F(dbias);
            s.Ops.MatmulBackward(di, dw, db, s.F(doutput), s.F(input), s.F(weight), n, c, oc, precision);
            s.Output($"matmul dinput {shape}", di);
            s.Output($"matmul dweight {shape}", dw);
            s.Output($"matmul dbias {shape}", db);
        };
    }
}
