using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

public sealed unsafe partial class CpuOps<T>
{
    public void MatmulForward(Buf<T> output, Buf<T> input, Buf<T> weight, Buf<T> bias, int n, int c, int oc, MatmulPrecision precision)
    {
        CheckSize(output, (long)n * oc, "output"); CheckSize(input, (long)n * c, "input"); CheckSize(weight, (long)oc * c, "weight");
        ForwardProduct(precision, output.Ptr, input.Ptr, weight.Ptr, n, c, oc);
        if (!bias.IsEmpty)
            ForChunks(n, RowChunk, (s, e) =>
            {
                for (long i = s; i < e; i++)
                    System.Numerics.Tensors.TensorPrimitives.Add<T>(new ReadOnlySpan<T>(output.Ptr + i * oc, oc),
                        new ReadOnlySpan<T>(bias.Ptr, oc), new Span<T>(output.Ptr + i * oc, oc));
            });
    }

    public void MatmulBackward(Buf<T> dinput, Buf<T> dweight, Buf<T> dbias, Buf<T> doutput, Buf<T> input, Buf<T> weight,
        int n, int c, int oc, MatmulPrecision precision)
    {
        if (!dinput.IsEmpty)
            InputGradientProduct(precision, dinput.Ptr, doutput.Ptr, weight.Ptr, n, c, oc);
        WeightGradientProduct(precision, dweight.Ptr, doutput.Ptr, input.Ptr, n, c, oc);
        if (!dbias.IsEmpty) ColumnSums(dbias, doutput, n, oc);
    }

    /// <summary>sums (cols) += column sums of x (rows, cols), in fixed chunk order.</summary>
    static void ColumnSums(Buf<T> sums, Buf<T> x, long rows, int cols)
    {
        int chunks = Chunks(rows, RowChunk * 4);
        var partial = new T[(long)chunks * cols];
        ForChunks(rows, RowChunk * 4, (s, e) =>
        {
            fixed (T* p = &partial[s / (RowChunk * 4) * cols])
                for (long i = s; i < e; i++)
                    System.Numerics.Tensors.TensorPrimitives.Add<T>(new ReadOnlySpan<T>(p, cols), new ReadOnlySpan<T>(x.Ptr + i * cols, cols), new Span<T>(p, cols));
        });
        for (int chunk = 0; chunk < chunks; chunk++)
            for (int j = 0; j < cols; j++) sums.Ptr[j] += partial[(long)chunk * cols + j];
    }
}
