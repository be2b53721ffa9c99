using System.Runtime.Intrinsics;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Kernels.Cpu;

/// <summary>
/// The CPU twins of the tensor-core matmuls (kernels.cu, TC_* and NARROW_*), adding in exactly the kernels' order
/// (as the emulator runs mma.m16n8k8: the products of one k step in k order, every sum rounded to FP32), so the
/// emulator's results equal these bit for bit and a real GPU's differ only by the tensor cores' own order inside a
/// k step. Per output element:
/// <list type="bullet">
/// <item>operands split once: hi = tf32(x) (cvt.rna, <see cref="Tf32.Round"/>), and for 3xTF32 lo = tf32(x - hi);</item>
/// <item>acc = 0, then per k step of 8 (from the slice's first row) the kernels' mmas in order: 3xTF32 adds the 8
/// products lo_a hi_b, then the 8 of hi_a lo_b, then the 8 of hi_a hi_b; TF32 the 8 of hi_a hi_b. A product of two
/// TF32 numbers is exact in FP32, and each is added with its own rounding (a multiply, then an add);</item>
/// <item>the epilogue as the kernel's: forward out = acc (+ bias by the caller), input gradient dinput += acc,
/// weight gradient split over its N rows (<see cref="TensorCoreGeometry.WeightSplit"/>) into partial sums added in
/// slice order from 0 (matmul_split_k_reduce), then dweight += sum; one slice: dweight += acc;</item>
/// <item>the narrow forward (fewer than NARROW_COLS outputs): split over C (<see cref="TensorCoreGeometry.NarrowForwardSplit"/>);
/// in each slice its warps w = 0..3 take the slice's k steps w, w + 4, ... each into its own acc, added in warp order
/// from 0; several slices are added in slice order from 0 (matmul_narrow_forward_reduce).</item>
/// </list>
/// Steps past the end of k are skipped where the kernels add zero products (which changes at most the sign of a zero).
/// </summary>
public static unsafe class TensorCoreTwin
{
    const int Step = TensorCoreGeometry.MmaDepth;
    const int RowBlock = 4, ColumnSlab = 16;

    static TensorCoreGeometry Geometry => TensorCoreGeometry.Default;

    /// <summary>output (N,OC) = input (N,C) weight (OC,C)^T (no bias: the caller adds it after, as the kernel does).</summary>
    public static void Forward(float* output, float* input, float* weight, int n, int c, int oc, MatmulPrecision precision)
    {
        var a = Plane.Of(precision, input, c, c, n, transposed: true);    // A (N,C) row-major: element (k, row) at row*C + k
        var b = Plane.Of(precision, weight, c, c, oc, transposed: true);  // B (OC,C) row-major: element (k, col) at col*C + k
        if (!Geometry.IsNarrow(oc))
        {
            Product(a, b, 0, Step, c, output, oc, n, oc);
            return;
        }
        // split over C as the kernel splits it: per slice the warps' sums added in warp order; one slice is the output,
        // several are added in slice order from 0 (matmul_narrow_forward_reduce)
        var split = Geometry.NarrowForwardSplit(n, c);
        int warps = Geometry.NarrowWarps;
        long count = (long)n * oc;
        var partials = new float[warps][];
        for (int w = 0; w < warps; w++) partials[w] = GC.AllocateUninitializedArray<float>(checked((int)count));
        var sum = new float[split.Slices == 1 ? 0 : count];
        for (int slice = 0; slice < split.Slices; slice++)
        {
            int begin = slice * split.SliceLength, end = Math.Min(c, begin + split.SliceLength);
            for (int w = 0; w < warps; w++)
                fixed (float* p = partials[w]) Product(a, b, begin + w * Step, warps * Step, end, p, oc, n, oc);
            for (long i = 0; i < count; i++)
            {
                float v = 0f;
                for (int w = 0; w < warps; w++) v += partials[w][i];
                if (split.Slices == 1) output[i] = v;
                else sum[i] += v;
            }
        }
        for (long i = 0; i < sum.Length; i++) output[i] = sum[i];
    }

    /// <summary>dinput (N,C) += doutput (N,OC) weight (OC,C).</summary>
    public static void InputGradient(float* dinput, float* doutput, float* weight, int n, int c, int oc, MatmulPrecision precision)
    {
        var a = Plane.Of(precision, doutput, oc, oc, n, transposed: true);  // A (N,OC) row-major
        var b = Plane.Of(precision, weight, c, oc, c, transposed: false);   // B (OC,C): element (k, col) at k*C + col
        var acc = GC.AllocateUninitializedArray<float>(checked(n * c));
        fixed (float* p = acc)
        {
            Product(a, b, 0, Step, oc, p, c, n, c);
            AddInto(dinput, p, (long)n * c);
        }
    }

    /// <summary>dweight (OC,C) += doutput (N,OC)^T input (N,C), split over N as the kernels split it.</summary>
    public static void WeightGradient(float* dweight, float* doutput, float* input, int n, int c, int oc, MatmulPrecision precision)
    {
        var a = Plane.Of(precision, doutput, oc, n, oc, transposed: false);  // A = doutput^T: element (k, row) at k*OC + row
        var b = Plane.Of(precision, input, c, n, c, transposed: false);      // B (N,C): element (k, col) at k*C + col
        var split = Geometry.WeightSplit(n, c, oc);
        long count = (long)oc * c;
        var partial = GC.AllocateUninitializedArray<float>(checked((int)count));
        if (split.Slices == 1)
        {
            fixed (float* p = partial)
            {
                Product(a, b, 0, Step, n, p, c, oc, c);
                AddInto(dweight, p, count);
            }
            return;
        }
        var sum = new float[count];
        fixed (float* p = partial, s = sum)
        {
            for (int slice = 0; slice < split.Slices; slice++)
            {
                int begin = slice * split.SliceLength, end = (int)Math.Min(n, (long)begin + split.SliceLength);
                Product(a, b, begin, Step, end, p, c, oc, c);
                for (long i = 0; i < count; i++) s[i] += p[i];
            }
            AddInto(dweight, s, count);
        }
    }

    static void AddInto(float* target, float* values, long count)
    {
        for (long i = 0; i < count; i++) target[i] += values[i];
    }

    /// <summary>
    /// One operand in k-major planes: element (k, j) of the operand at [k * Width + j], j padded with zeros to Width;
    /// Hi = tf32(x), Lo = tf32(x - hi) (3xTF32; empty for TF32).
    /// </summary>
    sealed class Plane
    {
        public required float[] Hi { get; init; }
        public required float[] Lo { get; init; }
        public required int Width { get; init; }

        /// <summary>
        /// The planes of an operand with k rows and <paramref name="columns"/> columns, stored k-major with row stride
        /// <paramref name="ld"/> (element (k, j) at x[k * ld + j]) or, when <paramref name="transposed"/>, column-major
        /// (element (k, j) at x[j * ld + k]).
        /// </summary>
        public static Plane Of(MatmulPrecision precision, float* x, int ld, int k, int columns, bool transposed)
        {
            int width = (columns + ColumnSlab - 1) / ColumnSlab * ColumnSlab;  // whole column slabs (and row blocks)
            long count = checked((long)k * width);
            var hi = new float[count];
            var lo = precision == MatmulPrecision.Tf32x3 ? new float[count] : [];
            nint source = (nint)x;
            // Chunks of 64 along the stored rows (j when transposed, else k), so the source is read in its own order.
            int outer = transposed ? columns : k, inner = transposed ? k : columns;
            Parallel.For(0, (outer + 63) / 64, chunk =>
            {
                var src = (float*)source;
                for (int o = chunk * 64; o < Math.Min(outer, chunk * 64 + 64); o++)
                    for (int i = 0; i < inner; i++)
                    {
                        float v = src[(long)o * ld + i];
                        long at = transposed ? (long)i * width + o : (long)o * width + i;
                        float h = Tf32.Round(v);
                        hi[at] = h;
                        if (lo.Length > 0) lo[at] = Tf32.Round(v - h);
                    }
            });
            return new Plane { Hi = hi, Lo = lo, Width = width };
        }
    }

    /// <summary>
    /// result (rows, cols), row stride ldr, = the sum over the k steps kFirst, kFirst + kStride, ... below kEnd of
    /// A (rows) B (cols) in the kernels' order (see the class summary); each element's sum starts from 0.
    /// </summary>
    static void Product(Plane a, Plane b, int kFirst, int kStride, int kEnd, float* result, int ldr, int rows, int cols)
    {
        int slabs = (cols + ColumnSlab - 1) / ColumnSlab, blocks = (rows + RowBlock - 1) / RowBlock;
        const int BlocksPerTask = 16;
        int tasksPerSlab = (blocks + BlocksPerTask - 1) / BlocksPerTask;
        bool threeTerms = a.Lo.Length > 0;
        nint r = (nint)result;
        Parallel.For(0, slabs * tasksPerSlab, task =>
        {
            int slab = task / tasksPerSlab, first = task % tasksPerSlab * BlocksPerTask;
            var tile = stackalloc float[RowBlock * ColumnSlab];
            fixed (float* ah = a.Hi, al = a.Lo, bh = b.Hi, bl = b.Lo)
                for (int block = first; block < Math.Min(blocks, first + BlocksPerTask); block++)
                {
                    int i0 = block * RowBlock, j0 = slab * ColumnSlab;
                    Block(ah + i0, al + i0, a.Width, bh + j0, bl + j0, b.Width, threeTerms, kFirst, kStride, kEnd, tile);
                    for (int i = 0; i < Math.Min(RowBlock, rows - i0); i++)
                        for (int j = 0; j < Math.Min(ColumnSlab, cols - j0); j++)
                            ((float*)r)[(long)(i0 + i) * ldr + j0 + j] = tile[i * ColumnSlab + j];
                }
        });
    }

    /// <summary>A 4 x 16 block of the product: rows ah[k * lda + 0..3], columns bh[k * ldb + 0..15], into tile (4,16).</summary>
    static void Block(float* ah, float* al, int lda, float* bh, float* bl, int ldb, bool threeTerms, int kFirst, int kStride, int kEnd, float* tile)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        for (int step = kFirst; step < kEnd; step += kStride)
        {
            int last = Math.Min(step + Step, kEnd);
            // The step's mmas in the kernels' order: lo_a hi_b, hi_a lo_b (3xTF32 only), hi_a hi_b.
            for (int term = threeTerms ? 0 : 2; term < 3; term++)
            {
                float* pa = term == 0 ? al : ah, pb = term == 1 ? bl : bh;
                for (int k = step; k < last; k++)
                {
                    // acc += a_k b_k: one rounding for the product (exact for TF32 operands), one for the sum (no fused multiply-add).
                    float* arow = pa + (long)k * lda;
                    var b0 = Vector256.Load(pb + (long)k * ldb);
                    var b1 = Vector256.Load(pb + (long)k * ldb + 8);
                    var a0 = Vector256.Create(arow[0]);
                    c00 += a0 * b0; c01 += a0 * b1;
                    var a1 = Vector256.Create(arow[1]);
                    c10 += a1 * b0; c11 += a1 * b1;
                    var a2 = Vector256.Create(arow[2]);
                    c20 += a2 * b0; c21 += a2 * b1;
                    var a3 = Vector256.Create(arow[3]);
                    c30 += a3 * b0; c31 += a3 * b1;
                }
            }
        }
        c00.Store(tile); c01.Store(tile + 8);
        c10.Store(tile + 16); c11.Store(tile + 24);
        c20.Store(tile + 32); c21.Store(tile + 40);
        c30.Store(tile + 48); c31.Store(tile + 56);
    }
}
