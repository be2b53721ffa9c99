using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
    /// <summary>
    /// output (N,OC) = input (N,C) weight (OC,C)^T + bias (OC) (bias may be empty). FP32: the SIMT kernel; the TF32
    /// modes: the tensor-core kernels (GpuOps.MatmulPrecision.cs).
    /// </summary>
    public void MatmulForward(Buf<float> output, Buf<float> input, Buf<float> weight, Buf<float> bias, int n, int c, int oc, MatmulPrecision precision)
    {
        CheckSize(output, (long)n * oc, "output"); CheckSize(input, (long)n * c, "input"); CheckSize(weight, (long)oc * c, "weight");
        if (!bias.IsEmpty) CheckSize(bias, oc, "bias");
        if (n == 0 || oc == 0) return;
        if (precision != MatmulPrecision.Fp32)
        {
            TensorCoreForward(output, input, weight, bias, n, c, oc, precision);
            return;
        }
        Device.Launch("matmul_forward", new Dim3(Dim3.Blocks(oc, _gemmCols), Dim3.Blocks(n, _gemmRows)), Threads("matmul_forward"), 0,
            output, input, weight, bias, n, c, oc);
    }

    /// <summary>
    /// dinput (N,C) += doutput weight; dweight (OC,C) += doutput^T input; dbias (OC) += column sums of doutput (N,OC).
    /// Any of dinput and dbias may be empty (not computed). The two products in <paramref name="precision"/>.
    /// </summary>
    public void MatmulBackward(Buf<float> dinput, Buf<float> dweight, Buf<float> dbias, Buf<float> doutput, Buf<float> input, Buf<float> weight,
        int n, int c, int oc, MatmulPrecision precision)
    {
        CheckSize(doutput, (long)n * oc, "doutput"); CheckSize(input, (long)n * c, "input"); CheckSize(weight, (long)oc * c, "weight");
        CheckSize(dweight, (long)oc * c, "dweight");
        if (!dinput.IsEmpty) CheckSize(dinput, (long)n * c, "dinput");
        if (!dbias.IsEmpty) CheckSize(dbias, oc, "dbias");
        if (n == 0 || c == 0 || oc == 0) return;
        if (!dinput.IsEmpty)
        {
            if (precision != MatmulPrecision.Fp32) TensorCoreInputGradient(dinput, doutput, weight, n, c, oc, precision);
            else
                Device.Launch("matmul_backward_input", new Dim3(Dim3.Blocks(c, _gemmCols), Dim3.Blocks(n, _gemmRows)), Threads("matmul_backward_input"), 0,
                    dinput, doutput, weight, n, c, oc);
        }
        WeightGradient(dweight, doutput, input, n, c, oc, precision);
        if (!dbias.IsEmpty) BiasGradient(dbias, doutput, n, oc);
    }

    /// <summary>dweight (OC,C) += doutput (N,OC)^T input (N,C): FP32, one block per GEMM tile of dweight; else tensor cores, split over N.</summary>
    void WeightGradient(Buf<float> dweight, Buf<float> doutput, Buf<float> input, int n, int c, int oc, MatmulPrecision precision)
    {
        if (precision != MatmulPrecision.Fp32)
        {
            TensorCoreWeightGradient(dweight, doutput, input, n, c, oc, precision);
            return;
        }
        Device.Launch("matmul_backward_weight", new Dim3(Dim3.Blocks(c, _gemmCols), Dim3.Blocks(oc, _gemmRows)), Threads("matmul_backward_weight"), 0,
            dweight, doutput, input, n, c, oc);
    }

    /// <summary>dbias (OC) += column sums of doutput (N,OC): one block per warp's width of columns.</summary>
    void BiasGradient(Buf<float> dbias, Buf<float> doutput, int n, int oc) =>
        Device.Launch("matmul_backward_bias", Dim3.Blocks(oc, WarpSize), Threads("matmul_backward_bias"), 0, dbias, doutput, n, oc);
}
