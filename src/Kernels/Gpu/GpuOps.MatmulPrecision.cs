using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// The matmuls in the TF32 precisions (<see cref="MatmulPrecision.Tf32x3"/>, <see cref="MatmulPrecision.Tf32"/>) on
/// tensor cores; their CPU twins are in CpuOps.MatmulPrecision.cs. Outputs at least NARROW_COLS wide use the 64 x 64
/// tile kernels (matmul_forward_*, matmul_backward_input_*, matmul_backward_weight_*), narrower ones (the head) the
/// narrow kernels; weight gradients are split over their N rows, and narrow forwards over their C columns, by
/// <see cref="KSplit"/>.
/// </summary>
public sealed partial class GpuOps
{
    TensorCoreGeometry? _tc;
    TensorCoreGeometry Tc => _tc ??= TensorCoreGeometry.From(_source);

    /// <summary>The kernel of <paramref name="family"/> for a tensor-core precision (its name ends in _3xtf32 or _tf32).</summary>
    static string Kernel(string family, MatmulPrecision precision) => precision switch
    {
        MatmulPrecision.Tf32x3 => family + "_3xtf32",
        MatmulPrecision.Tf32 => family + "_tf32",
        _ => throw new ArgumentOutOfRangeException(nameof(precision), precision, "not a tensor-core precision"),
    };

    /// <summary>output (N,OC) = input (N,C) weight (OC,C)^T + bias (OC).</summary>
    void TensorCoreForward(Buf<float> output, Buf<float> input, Buf<float> weight, Buf<float> bias, int n, int c, int oc, MatmulPrecision precision)
    {
        var tc = Tc;
        if (tc.IsNarrow(oc))
        {
            // split over C: one slice writes output directly; several write partials (slices, N, OC), added in slice order
            string narrow = Kernel("matmul_narrow_forward", precision);
            var split = tc.NarrowForwardSplit(n, c);
            long count = (long)n * oc;
            var target = split.Slices == 1 ? output : Partials(split.Slices * count);
            Device.Launch(narrow, tc.ForwardGrid(n, c, oc), Threads(narrow), 0, target, input, weight, bias, n, c, oc, split.SliceLength);
            if (split.Slices > 1) Launch1D("matmul_narrow_forward_reduce", count, output, target, bias, split.Slices, count, oc);
            return;
        }
        string kernel = Kernel("matmul_forward", precision);
        Device.Launch(kernel, tc.ForwardGrid(n, c, oc), Threads(kernel), tc.SharedBytes, output, input, weight, bias, n, c, oc);
    }

    /// <summary>dinput (N,C) += doutput (N,OC) weight (OC,C) (also for narrow OC: the output is N x C).</summary>
    void TensorCoreInputGradient(Buf<float> dinput, Buf<float> doutput, Buf<float> weight, int n, int c, int oc, MatmulPrecision precision)
    {
        var tc = Tc;
        string kernel = Kernel("matmul_backward_input", precision);
        Device.Launch(kernel, tc.InputGradientGrid(n, c), Threads(kernel), tc.SharedBytes, dinput, doutput, weight, n, c, oc);
    }

    /// <summary>
    /// dweight (OC,C) += doutput (N,OC)^T input (N,C), the N rows cut into slices (<see cref="TensorCoreGeometry.WeightSplit"/>): one slice adds
    /// into dweight directly; several write partial sums (slices, OC, C) that matmul_split_k_reduce adds in slice order.
    /// </summary>
    void TensorCoreWeightGradient(Buf<float> dweight, Buf<float> doutput, Buf<float> input, int n, int c, int oc, MatmulPrecision precision)
    {
        var tc = Tc;
        bool narrow = tc.IsNarrow(oc);
        string kernel = Kernel(narrow ? "matmul_narrow_backward_weight" : "matmul_backward_weight", precision);
        var split = tc.WeightSplit(n, c, oc);
        long count = (long)oc * c;
        var target = split.Slices == 1 ? dweight : Partials(split.Slices * count);
        Device.Launch(kernel, tc.WeightGradientGrid(n, c, oc), Threads(kernel), narrow ? 0 : tc.SharedBytes,
            target, doutput, input, n, c, oc, split.SliceLength, split.Slices == 1 ? 1 : 0);
        if (split.Slices > 1) Launch1D("matmul_split_k_reduce", count, dweight, target, split.Slices, count);
    }
}
