using RawFlipFlop.Kernels.Cpu;

namespace RawFlipFlop.Tests.Kernels.Cpu;

/// <summary>
/// The blocked GEMM against a double-precision triple loop and against its documented summation order (per 256-long
/// k block: a sum from zero by sequential FMAs, added to C), with both micro-kernels (Vector512 is emulated in software
/// where the hardware lacks it, so its shapes stay small), every transpose combination, strides wider than the rows,
/// and shapes that are not multiples of the tiles.
/// </summary>
[Trait("Category", "Cpu")]
public sealed unsafe class GemmTests
{
    const int KC = 256; // the GEMM's k block, which fixes the summation order

    // (m, n, k): single elements, edge tiles in both dimensions, k across 1, 2 and 3 k blocks, m above one row block
    public static TheoryData<int, int, int> Shapes => new()
    {
        { 1, 1, 1 }, { 7, 5, 3 }, { 17, 33, 65 }, { 130, 257, 70 }, { 97, 600, 300 }, { 6, 16, 256 }, { 1, 40, 513 },
        { 29, 1, 257 }, { 15, 31, 600 },
    };

    public static TheoryData<GemmKernel> Kernels => new() { GemmKernel.Vector256, GemmKernel.Vector512 };

    static readonly (bool, bool)[] Transposes = { (false, false), (false, true), (true, false), (true, true) };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void DoubleMatchesNaive(int m, int n, int k)
    {
        foreach (var kernel in new[] { GemmKernel.Vector256, GemmKernel.Vector512 })
            foreach (var (ta, tb) in Transposes)
                foreach (bool accumulate in new[] { false, true })
                    Check<double>(kernel, m, n, k, ta, tb, accumulate);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FloatMatchesNaive(int m, int n, int k)
    {
        foreach (var kernel in new[] { GemmKernel.Vector256, GemmKernel.Vector512 })
            foreach (var (ta, tb) in Transposes)
                foreach (bool accumulate in new[] { false, true })
                    Check<float>(kernel, m, n, k, ta, tb, accumulate);
    }

    /// <summary>Operands with strides wider than their rows, filled with values in [-0.5, 0.5) (C in [0, 1)).</summary>
    sealed class Operands<T> where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        public readonly int M, N, K, Lda, Ldb, Ldc;
        public readonly bool TransA, TransB;
        public readonly T[] A, B, C;

        public Operands(int m, int n, int k, bool transA, bool transB, int seed)
        {
            (M, N, K, TransA, TransB) = (m, n, k, transA, transB);
            var random = new System.Random(seed);
            Lda = (transA ? m : k) + 3; Ldb = (transB ? k : n) + 1; Ldc = n + 2;
            A = Enumerable.Range(0, Math.Max(1, (transA ? k : m) * Lda)).Select(_ => T.CreateTruncating(random.NextDouble() - 0.5)).ToArray();
            B = Enumerable.Range(0, Math.Max(1, (transB ? n : k) * Ldb)).Select(_ => T.CreateTruncating(random.NextDouble() - 0.5)).ToArray();
            C = Enumerable.Range(0, m * Ldc).Select(_ => T.CreateTruncating(random.NextDouble())).ToArray();
        }

        public T At(int i, int p) => TransA ? A[p * Lda + i] : A[i * Lda + p];
        public T Bt(int p, int j) => TransB ? B[j * Ldb + p] : B[p * Ldb + j];

        public T[] Run(GemmKernel kernel, bool accumulate, bool parallel, long packBudget = 0)
        {
            var c = (T[])C.Clone();
            fixed (T* pa = A, pb = B, pc = c)
                if (packBudget > 0)
                    Gemm<T>.Multiply(kernel, TransA, TransB, M, N, K, pa, Lda, pb, Ldb, pc, Ldc, accumulate, parallel, packBudget);
                else
                    Gemm<T>.Multiply(kernel, TransA, TransB, M, N, K, pa, Lda, pb, Ldb, pc, Ldc, accumulate, parallel);
            return c;
        }

        /// <summary>The GEMM's documented order, element by element: bit for bit what the blocked code must give.</summary>
        public T[] InOrder(bool accumulate)
        {
            var c = (T[])C.Clone();
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++)
                    for (int k0 = 0; k0 < K; k0 += KC)
                    {
                        T s = T.Zero;
                        for (int p = k0; p < Math.Min(K, k0 + KC); p++) s = T.FusedMultiplyAdd(At(i, p), Bt(p, j), s);
                        c[i * Ldc + j] = accumulate || k0 > 0 ? c[i * Ldc + j] + s : s;
                    }
            if (K == 0 && !accumulate)
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) c[i * Ldc + j] = T.Zero;
            return c;
        }
    }

    static void Check<T>(GemmKernel kernel, int m, int n, int k, bool transA, bool transB, bool accumulate)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var o = new Operands<T>(m, n, k, transA, transB, m * 1000 + n + k);
        var c = o.Run(kernel, accumulate, parallel: true);
        // error bound of a k-long sum plus the add into C in T, (k + 2) u (sum |a b| + |c|), doubled for the double
        // reference's own rounding (which matters when T is double)
        double u = typeof(T) == typeof(float) ? Math.Pow(2, -24) : Math.Pow(2, -53);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < o.Ldc; j++)
            {
                double actual = double.CreateTruncating(c[i * o.Ldc + j]);
                if (j >= n)
                {
                    Assert.Equal(double.CreateTruncating(o.C[i * o.Ldc + j]), actual); // padding untouched
                    continue;
                }
                double s = 0, magnitude = 0;
                for (int p = 0; p < k; p++)
                {
                    double term = double.CreateTruncating(o.At(i, p)) * double.CreateTruncating(o.Bt(p, j));
                    s += term; magnitude += Math.Abs(term);
                }
                double old = double.CreateTruncating(o.C[i * o.Ldc + j]);
                double want = accumulate ? old + s : s;
                double tol = 2 * (k + 2) * u * (magnitude + Math.Abs(old));
                Assert.True(Math.Abs(actual - want) <= tol,
                    $"{kernel} C[{i},{j}] = {actual}, expected {want} +- {tol} (m {m} n {n} k {k} transA {transA} transB {transB} acc {accumulate})");
            }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void FollowsTheDocumentedSummationOrderBitForBit(GemmKernel kernel)
    {
        foreach (var (m, n, k) in new[] { (7, 5, 3), (17, 33, 600), (30, 70, 257), (1, 1, 512) })
            foreach (var (ta, tb) in Transposes)
                foreach (bool accumulate in new[] { false, true })
                {
                    var f = new Operands<float>(m, n, k, ta, tb, 11 + m + k);
                    Assert.Equal(f.InOrder(accumulate), f.Run(kernel, accumulate, parallel: true));
                    var d = new Operands<double>(m, n, k, ta, tb, 12 + m + k);
                    Assert.Equal(d.InOrder(accumulate), d.Run(kernel, accumulate, parallel: true));
                }
    }

    [Theory]
    [MemberData(nameof(Kernels))]
    public void PackingBInGroupsOfKBlocksKeepsTheOrder(GemmKernel kernel)
    {
        // k = 1100: 5 k blocks, packed one (budget below one block) or two at a time
        foreach (long budget in new long[] { 1, 2 * 256 * 64 })
            foreach (var (ta, tb) in Transposes)
            {
                var f = new Operands<float>(40, 50, 1100, ta, tb, 31);
                var expected = f.InOrder(accumulate: true);
                Assert.Equal(expected, f.Run(kernel, true, parallel: true, budget));
                Assert.Equal(expected, f.Run(kernel, true, parallel: false, budget));
            }
    }

    [Fact]
    public void BothKernelsGiveTheSameBits()
    {
        foreach (var (m, n, k) in new[] { (97, 130, 300), (29, 64, 513), (14, 32, 256) })
            foreach (var (ta, tb) in Transposes)
            {
                var f = new Operands<float>(m, n, k, ta, tb, 21 + n);
                Assert.Equal(f.Run(GemmKernel.Vector256, true, true), f.Run(GemmKernel.Vector512, true, true));
                var d = new Operands<double>(m, n, k, ta, tb, 22 + n);
                Assert.Equal(d.Run(GemmKernel.Vector256, false, true), d.Run(GemmKernel.Vector512, false, true));
            }
    }

    [Fact]
    public void ResultDoesNotDependOnThreading()
    {
        // shapes that tile C into many row blocks, or few row blocks cut into column tiles, over several k blocks
        foreach (var (m, n, k) in new[] { (300, 200, 700), (50, 512, 1100), (1000, 48, 300) })
            foreach (var (ta, tb) in Transposes)
            {
                var f = new Operands<float>(m, n, k, ta, tb, 5 + m);
                Assert.Equal(f.Run(GemmKernel.Vector256, true, parallel: true), f.Run(GemmKernel.Vector256, true, parallel: false));
                Assert.Equal(f.Run(GemmKernel.Auto, false, parallel: true), f.Run(GemmKernel.Vector256, false, parallel: false));
            }
    }

    [Fact]
    public void EmptyReductionClearsOrKeepsC()
    {
        foreach (var kernel in new[] { GemmKernel.Vector256, GemmKernel.Vector512 })
        {
            var o = new Operands<float>(5, 9, 0, false, true, 3);
            Assert.Equal(o.C, o.Run(kernel, accumulate: true, parallel: true));
            var cleared = o.Run(kernel, accumulate: false, parallel: true);
            for (int i = 0; i < 5; i++)
                for (int j = 0; j < o.Ldc; j++)
                    Assert.Equal(j < 9 ? 0f : o.C[i * o.Ldc + j], cleared[i * o.Ldc + j]);
        }
    }
}
