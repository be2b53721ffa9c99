using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Kernels.Gpu;

public abstract partial class OpComparisons
{
    /// <summary>(N, C, OC): single elements, partial and several tiles in every dimension, sizes that are and are not multiples of 4 (the float4 paths).</summary>
    public static TheoryData<int, int, int> MatmulShapes => new()
    {
        { 1, 1, 1 },
        { 17, 33, 65 },
        { 130, 257, 70 },
        { 64, 128, 256 },
        { 5, 4, 3 },
        { 129, 8, 131 },
    };

    [Theory]
    [MemberData(nameof(MatmulShapes))]
    public void Matmul_forward_matches_its_CPU_twin(int n, int c, int oc)
    {
        var output = Random((long)n * oc, 15, 5); var input = Random((long)n * c, 16); var weight = Random((long)oc * c, 17);
        foreach (bool withBias in new[] { true, false })
        {
            var bias = withBias ? Random(oc, 18) : [];
            Compare(s =>
            {
                var o = s.F(output);
                s.Ops.MatmulForward(o, s.F(input), s.F(weight), s.F(bias), n, c, oc);
                s.Output($"matmul output ({n},{c},{oc}){(withBias ? " with bias" : "")}", o);
            });
        }
    }

    [Theory]
    [MemberData(nameof(MatmulShapes))]
    public void Matmul_backward_matches_its_CPU_twin(int n, int c, int oc) => Compare(MatmulBackward(n, c, oc, 19));

    [Fact]
    public void Matmul_backward_without_dinput_and_dbias_computes_only_dweight()
    {
        const int n = 33, c = 20, oc = 12;
        var dweight = Random(oc * c, 25); var doutput = Random(n * oc, 26); var input = Random(n * c, 27); var weight = Random(oc * c, 28);
        Compare(s =>
        {
            var dw = s.F(dweight);
            s.Ops.MatmulBackward(Buf<float>.Empty, dw, Buf<float>.Empty, s.F(doutput), s.F(input), s.F(weight), n, c, oc);
            s.Output("matmul dweight", dw);
        });
    }

    [Fact]
    public void Matmul_on_unaligned_slices_matches()
    {
        // Views that start one float into an allocation: the float4 paths must step aside.
        const int n = 40, c = 64, oc = 36;
        var input = Random(n * c + 1, 29);
        var weight = Random(oc * c + 1, 30);
        Compare(s =>
        {
            var output = s.Zeros(n * oc + 1).Slice(1);
            s.Ops.MatmulForward(output, s.F(input).Slice(1), s.F(weight).Slice(1), Buf<float>.Empty, n, c, oc);
            s.Output("matmul output on unaligned views", output);
        });
    }

    [Fact]
    public void Results_are_bit_reproducible()
    {
        var device = Open();
        var scenario = MatmulBackward(100, 96, 80, 31);
        KernelComparison.AssertClose(KernelComparison.OnDevice(device, scenario), KernelComparison.OnDevice(device, scenario), atol: 0, rtol: 0);
    }

    /// <summary>MatmulBackward at (N, C, OC) with every gradient, inputs from seeds firstSeed..firstSeed+5.</summary>
    static Action<ComparisonSession> MatmulBackward(int n, int c, int oc, int firstSeed)
    {
        var dinput = Random((long)n * c, firstSeed); var dweight = Random((long)oc * c, firstSeed + 1); var dbias = Random(oc, firstSeed + 2);
        var doutput = Random((long)n * oc, firstSeed + 3); var input = Random((long)n * c, firstSeed + 4); var weight = Random((long)oc * c, firstSeed + 5);
        string shape = $"({n},{c},{oc})";
        return s =>
        {
            var di = s.F(dinput); var dw = s.F(dweight); var db = s.F(dbias);
            s.Ops.MatmulBackward(di, dw, db, s.F(doutput), s.F(input), s.F(weight), n, c, oc);
            s.Output($"matmul dinput {shape}", di);
            s.Output($"matmul dweight {shape}", dw);
            s.Output($"matmul dbias {shape}", db);
        };
    }
}
