using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Gpu;

/// <summary>
/// Runs a linear layer's three products (forward, input gradient, split-K weight gradient; the narrow head kernels
/// when OC is below NARROW_COLS) on a device in one precision and checks each output element against its CPU twin of
/// the same precision (<see cref="TensorCoreTwin"/> for the TF32 modes, the CPU GEMM for FP32) and against the exact
/// product (double); the test classes below choose devices and shapes.
/// <para>
/// Twins: the emulator adds in the TF32 twins' order, so there it must equal them bit for bit; otherwise (a GPU's
/// tensor cores add inside a k step in their own order; FP32 compares the SIMT kernels with the blocked CPU GEMM)
/// atol = rtol = 1e-5 plus <see cref="OrderTerm"/>, the most two FP32 summation orders of the same terms can differ.
/// </para>
/// <para>
/// Exact product: |result - exact| &lt;= <see cref="ErrorBound"/>, derived from the precision with u = 2^-11 (TF32
/// rounding to nearest keeps 11 significant bits), S = sum_k |a_k b_k|, the old value or bias added to, and n, the
/// FP32 additions (K terms plus the slices of a split and the epilogue; 64 + 2 are allowed for those):
/// FP32 gamma(n) (S + |old|); TF32 (2u + u^2) S + gamma(n) (1 + u)^2 (S + |old|), since each operand's rounding errs
/// by at most u, so a product by 2u + u^2; 3xTF32 3u^2 S + gamma(3n) (S + |old|), for the dropped lo_a lo_b and the
/// residuals of the split (|x - hi - lo| &lt;= u^2 |x|). gamma(n) = n 2^-24 / (1 - n 2^-24) bounds FP32 summation of n
/// terms in any order.
/// </para>
/// </summary>
public static class GemmCheck
{
    const double U = 1.0 / 2048;  // TF32's unit roundoff, 2^-11

    static double Gamma(double n) => n * Math.Pow(2, -24) / (1 - n * Math.Pow(2, -24));

    /// <summary>The largest |result - exact| allowed for one element (see the class summary).</summary>
    public static double ErrorBound(MatmulPrecision precision, int k, double magnitude, double old) => precision switch
    {
        MatmulPrecision.Fp32 => Gamma(k + 66) * (magnitude + old),
        MatmulPrecision.Tf32 => (2 * U + U * U) * magnitude + Gamma(k + 66) * (1 + U) * (1 + U) * (magnitude + old),
        _ => 3 * U * U * magnitude + Gamma(3 * k + 66) * (magnitude + old),
    };

    public static float[] Random(long n, int seed, double scale = 1)
    {
        var random = new System.Random(seed);
        var values = new float[n];
        for (long i = 0; i < n; i++) values[i] = (float)(scale * (random.NextDouble() * 2 - 1));
        return values;
    }

    /// <summary>One product of a layer's inputs with its exact value, the magnitude S and the old value (or bias) it adds to.</summary>
    public sealed record Exact(string Name, int Terms, double[] Value, double[] Magnitude, double[] Old);

    /// <summary>The inputs of one linear layer (N, C, OC) and what its three products must be.</summary>
    public sealed class Layer(int n, int c, int oc, int seed)
    {
        public int N => n; public int C => c; public int OC => oc;
        public readonly float[] Input = Random((long)n * c, seed), Weight = Random((long)oc * c, seed + 1, 0.1), Bias = Random(oc, seed + 2);
        public readonly float[] DOutput = Random((long)n * oc, seed + 3), DInput = Random((long)n * c, seed + 4), DWeight = Random((long)oc * c, seed + 5);

        public Action<ComparisonSession> Scenario(MatmulPrecision precision, bool forward = true, bool dinput = true, bool dweight = true) => s =>
        {
            var x = s.F(Input); var w = s.F(Weight);
            if (forward)
            {
                var output = s.Zeros((long)n * oc);
                s.Ops.MatmulForward(output, x, w, s.F(Bias), n, c, oc, precision);
                s.Output("output", output);
            }
            if (dinput || dweight)
            {
                var di = dinput ? s.F(DInput) : Buf<float>.Empty; var dw = s.F(DWeight);
                s.Ops.MatmulBackward(di, dw, Buf<float>.Empty, s.F(DOutput), x, w, n, c, oc, precision);
                if (dinput) s.Output("dinput", di);
                if (dweight) s.Output("dweight", dw);
            }
        };

        /// <summary>The exact products (double) of the outputs the scenario names.</summary>
        public IEnumerable<Exact> Expected(bool forward = true, bool dinput = true, bool dweight = true)
        {
            if (forward) yield return Product("output", n, oc, c, Input, c, false, Weight, c, true, Bias, broadcastOld: true);
            if (dinput) yield return Product("dinput", n, c, oc, DOutput, oc, false, Weight, c, false, DInput, broadcastOld: false);
            if (dweight) yield return Product("dweight", oc, c, n, DOutput, oc, true, Input, c, false, DWeight, broadcastOld: false);
        }

        static unsafe Exact Product(string name, int m, int cols, int k, float[] a, int lda, bool transA, float[] b, int ldb, bool transB,
            float[] old, bool broadcastOld)
        {
            double[] ad = a.Select(v => (double)v).ToArray(), bd = b.Select(v => (double)v).ToArray();
            double[] aa = ad.Select(Math.Abs).ToArray(), ba = bd.Select(Math.Abs).ToArray();
            var value = new double[(long)m * cols];
            var magnitude = new double[(long)m * cols];
            var oldValues = new double[(long)m * cols];
            for (long i = 0; i < value.Length; i++) oldValues[i] = broadcastOld ? old[i % cols] : old[i];
            fixed (double* pa = ad, pb = bd, qa = aa, qb = ba, pv = value, pm = magnitude)
            {
                Gemm<double>.Multiply(transA, transB, m, cols, k, pa, lda, pb, ldb, pv, cols, accumulate: false);
                Gemm<double>.Multiply(transA, transB, m, cols, k, qa, lda, qb, ldb, pm, cols, accumulate: false);
            }
            for (long i = 0; i < value.Length; i++) value[i] += oldValues[i];
            return new Exact(name, k, value, magnitude, oldValues.Select(Math.Abs).ToArray());
        }
    }

    /// <summary>
    /// Runs the layer's products on the device and on the CPU twins: the device must match the twins exactly when it adds in their order, else to
    /// atol = rtol = 1e-5 (plus, where the two add in different orders, <see cref="OrderTerm"/>) and stay within
    /// <see cref="ErrorBound"/> of the exact products.
    /// </summary>
    public static void Check(IKernelDevice device, bool addsInTheTwinsOrder, Layer layer, MatmulPrecision precision, bool forward = true, bool dinput = true,
        bool dweight = true)
    {
        var scenario = layer.Scenario(precision, forward, dinput, dweight);
        var actual = KernelComparison.OnDevice(device, scenario);
        var twins = KernelComparison.OnCpu(scenario);
        bool sameOrder = precision != MatmulPrecision.Fp32 && addsInTheTwinsOrder;
        double tolerance = sameOrder ? 0 : KernelAssert.Tolerance;
        string shape = $"({layer.N},{layer.C},{layer.OC}) {precision}";
        foreach (var exact in layer.Expected(forward, dinput, dweight))
        {
            var result = actual.Float(exact.Name);
            var twin = twins.Float(exact.Name);
            double worst = 0, worstRelative = 0, worstTwin = 0;
            for (long e = 0; e < result.Length; e++)
            {
                double scale = exact.Magnitude[e] + exact.Old[e];
                double fromTwin = Math.Abs((double)result[e] - twin[e]);
                double allowedFromTwin = tolerance + tolerance * Math.Abs(twin[e]) + (sameOrder ? 0 : OrderTerm(exact.Terms, scale));
                if (!(fromTwin <= allowedFromTwin))
                    Assert.Fail($"{exact.Name} {shape}: element {e} of {result.Length} is {result[e]:R}, its twin's {twin[e]:R}: |diff| {fromTwin:G3} " +
                                $"exceeds the allowed {allowedFromTwin:G3} (S + |old| = {scale:G4}, K = {exact.Terms})");
                double error = Math.Abs(result[e] - exact.Value[e]);
                double allowed = ErrorBound(precision, exact.Terms, exact.Magnitude[e], exact.Old[e]);
                if (!(error <= allowed))
                    Assert.Fail($"{exact.Name} {shape}: element {e} of {result.Length} is {result[e]:R}, exact {exact.Value[e]:R}: |error| {error:G3} " +
                                $"exceeds the bound {allowed:G3} (S = {exact.Magnitude[e]:G4}, K = {exact.Terms})");
                worst = Math.Max(worst, error / allowed);
                worstRelative = Math.Max(worstRelative, error / scale);
                worstTwin = Math.Max(worstTwin, fromTwin / scale);
            }
            TestContext.Current.SendDiagnosticMessage(
                $"{exact.Name} {shape}: |error| at most {worst:0.000} of its bound, {worstRelative:G3} of S + |old|; from the twin {worstTwin:G3} of S + |old|");
        }
    }

    /// <summary>
    /// How far two FP32 sums of the same n terms in different orders may differ: each lies within gamma(n) (S + |old|)
    /// of the exact sum. At the baseline's 8192-row reductions this exceeds 1e-5 of the result for random data, so
    /// the 1e-5 rule alone would fail on any two correct FP32 GEMMs (the SIMT kernel against the CPU GEMM, the
    /// tensor cores against the twin).
    /// </summary>
    public static double OrderTerm(int k, double scale) => 2 * Gamma(3 * k + 66) * scale;

}

/// <summary>
/// The GEMM family in every precision against the CPU twins and the exact products (<see cref="GemmCheck"/>), at odd
/// shapes and at the baseline's shapes (B*T = 8192 rows, C 512 or 2048, OC 512, 1536, 2048 and the head's 5).
/// </summary>
public abstract class TensorCoreGemmTests
{
    protected abstract IKernelDevice? Device(out string reason);

    /// <summary>Whether the device adds in the TF32 twins' order (the emulator: its results must equal theirs bit for bit).</summary>
    protected abstract bool AddsInTheTwinsOrder { get; }

    /// <summary>
    /// Rows of the forward and input-gradient products at the baseline's widths. The baseline has B*T = 8192;
    /// rows are independent, so a subset computes exactly the rows of the full product.
    /// </summary>
    protected abstract int BaselineRows { get; }

    /// <summary>
    /// Columns C of the tile weight gradient at the baseline's reduction (B*T = 8192 rows); null: the layer's own C.
    /// The split over the rows follows the rule for the shape run (<see cref="TensorCoreGeometry.WeightSplit"/>).
    /// </summary>
    protected abstract int? WeightColumns { get; }

    const int BaselineN = 8192;

    void Check(GemmCheck.Layer layer, MatmulPrecision precision, bool forward = true, bool dinput = true, bool dweight = true)
    {
        var device = Device(out string reason);
        if (device == null) Assert.Skip(reason);
        GemmCheck.Check(device, AddsInTheTwinsOrder, layer, precision, forward, dinput, dweight);
    }

    /// <summary>Odd shapes: partial tiles in every dimension, rows that are not 16-byte aligned, narrow heads, split weight gradients.</summary>
    public static readonly (int N, int C, int OC)[] Odd =
        [(1, 1, 1), (67, 33, 65), (130, 257, 70), (129, 8, 131), (100, 40, 5), (70, 129, 31), (1000, 70, 40), (1000, 131, 9), (3001, 64, 64)];

    /// <summary>The baseline's layers (C, OC): QKV, attention output, feed-forward in and out, the head.</summary>
    public static readonly (int C, int OC)[] Baseline = [(512, 1536), (512, 512), (512, 2048), (2048, 512), (512, 5)];

    public static TheoryData<int, int, int, MatmulPrecision> OddShapes
    {
        get
        {
            var data = new TheoryData<int, int, int, MatmulPrecision>();
            foreach (var precision in Enum.GetValues<MatmulPrecision>())
                foreach (var (n, c, oc) in Odd) data.Add(n, c, oc, precision);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(OddShapes))]
    public void Every_product_matches_its_twin_and_its_error_bound_at_odd_shapes(int n, int c, int oc, MatmulPrecision precision) =>
        Check(new GemmCheck.Layer(n, c, oc, 40), precision);

    public static TheoryData<int, int, MatmulPrecision> BaselineLayers
    {
        get
        {
            var data = new TheoryData<int, int, MatmulPrecision>();
            foreach (var precision in Enum.GetValues<MatmulPrecision>())
                foreach (var (c, oc) in Baseline) data.Add(c, oc, precision);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(BaselineLayers))]
    public void Forward_and_input_gradient_match_at_the_baseline_widths(int c, int oc, MatmulPrecision precision) =>
        Check(new GemmCheck.Layer(BaselineRows, c, oc, 50), precision, dweight: false);

    /// <summary>Weight gradients reduced over the baseline's B*T = 8192 rows: a tile shape (Wo's OC) and the head (its full shape).</summary>
    public static TheoryData<int, int, MatmulPrecision> BaselineWeightGradients
    {
        get
        {
            var data = new TheoryData<int, int, MatmulPrecision>();
            foreach (var precision in Enum.GetValues<MatmulPrecision>())
                foreach (var (c, oc) in new[] { (512, 512), (512, 5) })
                    data.Add(c, oc, precision);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(BaselineWeightGradients))]
    public void Weight_gradients_match_at_the_baseline_reduction(int c, int oc, MatmulPrecision precision)
    {
        int columns = TensorCoreGeometry.Default.IsNarrow(oc) ? c : WeightColumns ?? c;  // the head's narrow gradient: always its full width
        Check(new GemmCheck.Layer(BaselineN, columns, oc, 60), precision, forward: false, dinput: false);
    }
}

/// <summary>
/// In the emulator. On the 2-core CI machine a full baseline product would take minutes (about 0.3 ms per 64 x 64
/// tile and 32-deep k slice in 3xTF32, more for the FP32 SIMT kernels), so the forward and input gradient run 64 of
/// the 8192 rows (rows are independent: they are computed exactly as in the full product) and the tile weight
/// gradient 64 of the 512 columns C (its reduction over 8192 rows is the baseline's; it is split by the rule for the
/// shape run, into 32 slices where the full width gets 13).
/// </summary>
[Trait("Category", "Emulator")]
public sealed class EmulatorTensorCoreGemmTests : TensorCoreGemmTests
{
    protected override IKernelDevice? Device(out string reason)
    {
        Toolchain.RequireCompiler();
        reason = "";
        return new EmulatedDevice(new EmulatorOptions());
    }

    protected override bool AddsInTheTwinsOrder => true;
    protected override int BaselineRows => 64;
    protected override int? WeightColumns => 64;
}

/// <summary>On a real GPU, at the full baseline shapes; skipped with the reason where there is none.</summary>
[Trait("Category", "Gpu")]
[Collection(GpuCollection.Name)]
public sealed class GpuTensorCoreGemmTests : TensorCoreGemmTests
{
    protected override IKernelDevice? Device(out string reason) => GpuFixture.Device(out reason);
    protected override bool AddsInTheTwinsOrder => false;
    protected override int BaselineRows => 8192;
    protected override int? WeightColumns => null;
}

/// <summary>
/// 3xTF32 in the emulator with the threads of every block in a shuffled order (a missing barrier or cp.async wait
/// would read another stage's data or the NaN the emulator leaves in a copy's destination until its wait): the odd
/// shapes and the baseline's widths (64 rows), still equal to the twins bit for bit.
/// </summary>
[Trait("Category", "Emulator")]
public sealed class ShuffledEmulatorTensorCoreGemmTests
{
    public static TheoryData<int, int, int> Shapes
    {
        get
        {
            var data = new TheoryData<int, int, int>();
            foreach (var (n, c, oc) in TensorCoreGemmTests.Odd) data.Add(n, c, oc);
            foreach (var (c, oc) in TensorCoreGemmTests.Baseline) data.Add(64, c, oc);
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Tf32x3_equals_its_twins_in_a_shuffled_order(int n, int c, int oc)
    {
        Toolchain.RequireCompiler();
        GemmCheck.Check(new EmulatedDevice(new EmulatorOptions(ShuffleSeed: 20240917)), addsInTheTwinsOrder: true, new GemmCheck.Layer(n, c, oc, 40),
            MatmulPrecision.Tf32x3);
    }
}
