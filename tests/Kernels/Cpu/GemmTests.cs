using RawFlipFlop.Kernels.Cpu;

namespace RawFlipFlop.Tests.Kernels.Cpu;

/// <summary>The blocked GEMM against a naive triple loop, for every transpose combination and awkward shapes.</summary>
[Trait("Category", "Cpu")]
public sealed unsafe class GemmTests
{
    public static TheoryData<int, int, int> Shapes => new() { { 1, 1, 1 }, { 7, 5, 3 }, { 17, 33, 65 }, { 130, 257, 70 }, { 97, 600, 300 }, { 6, 16, 256 } };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void DoubleMatchesNaive(int m, int n, int k)
    {
        foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
            foreach (bool accumulate in new[] { false, true })
                Check<double>(m, n, k, ta, tb, accumulate, 1e-12);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FloatMatchesNaive(int m, int n, int k)
    {
        Check<float>(m, n, k, false, true, false, 1e-5);
        Check<float>(m, n, k, true, false, true, 1e-5);
    }

    static void Check<T>(int m, int n, int k, bool transA, bool transB, bool accumulate, double tol)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var random = new System.Random(m * 1000 + n + k);
        int lda = (transA ? m : k) + 3, ldb = (transB ? k : n) + 1, ldc = n + 2; // strides wider than the rows
        var a = Enumerable.Range(0, (transA ? k : m) * lda).Select(_ => T.CreateTruncating(random.NextDouble() - 0.5)).ToArray();
        var b = Enumerable.Range(0, (transB ? n : k) * ldb).Select(_ => T.CreateTruncating(random.NextDouble() - 0.5)).ToArray();
        var c = Enumerable.Range(0, m * ldc).Select(_ => T.CreateTruncating(random.NextDouble())).ToArray();
        var expected = c.Select(double.CreateTruncating).ToArray();
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += double.CreateTruncating(transA ? a[p * lda + i] : a[i * lda + p]) * double.CreateTruncating(transB ? b[j * ldb + p] : b[p * ldb + j]);
                expected[i * ldc + j] = accumulate ? expected[i * ldc + j] + s : s;
            }
        fixed (T* pa = a, pb = b, pc = c)
            Gemm<T>.Multiply(transA, transB, m, n, k, pa, lda, pb, ldb, pc, ldc, accumulate);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < ldc; j++)
            {
                double actual = double.CreateTruncating(c[i * ldc + j]), want = expected[i * ldc + j];
                Assert.True(Math.Abs(actual - want) <= tol * (1 + Math.Abs(want)),
                    $"C[{i},{j}] = {actual}, expected {want} (m {m} n {n} k {k} transA {transA} transB {transB} acc {accumulate})");
            }
    }

    [Fact]
    public void ResultDoesNotDependOnThreading()
    {
        var random = new System.Random(5);
        int m = 300, n = 200, k = 700;
        var a = Enumerable.Range(0, m * k).Select(_ => (float)random.NextDouble()).ToArray();
        var b = Enumerable.Range(0, n * k).Select(_ => (float)random.NextDouble()).ToArray();
        var c1 = new float[m * n]; var c2 = new float[m * n];
        fixed (float* pa = a, pb = b, p1 = c1, p2 = c2)
        {
            Gemm<float>.Multiply(false, true, m, n, k, pa, k, pb, k, p1, n, false, parallel: true);
            Gemm<float>.Multiply(false, true, m, n, k, pa, k, pb, k, p2, n, false, parallel: false);
        }
        Assert.Equal(c1, c2);
    }
}
