using System.Numerics;

namespace RawFlipFlop.Tests.Kernels;

/// <summary>
/// The one tolerance rule of the kernel tests: every element must satisfy |actual - expected| &lt;= atol + rtol |expected|;
/// a failure names the worst element (the largest |actual - expected| relative to what it is allowed). A NaN or an
/// infinity that the expectation does not share always fails.
/// </summary>
public static class KernelAssert
{
    /// <summary>atol = rtol = 1e-5: what a single op meets against its CPU twin unless a test says why not.</summary>
    public const double Tolerance = 1e-5;

    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, double atol = Tolerance, double rtol = Tolerance) =>
        CloseCore(expected, actual, what, atol, rtol);

    public static void Close(ReadOnlySpan<double> expected, ReadOnlySpan<double> actual, string what, double atol = Tolerance, double rtol = Tolerance) =>
        CloseCore(expected, actual, what, atol, rtol);

    /// <summary>Exact equality of integer outputs, naming the first element that differs.</summary>
    public static void Equal(ReadOnlySpan<int> expected, ReadOnlySpan<int> actual, string what)
    {
        if (expected.Length != actual.Length) Assert.Fail($"{what}: {actual.Length} elements, expected {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
            if (expected[i] != actual[i]) Assert.Fail($"{what}: element {i} of {expected.Length} is {actual[i]}, expected {expected[i]}");
    }

    static void CloseCore<T>(ReadOnlySpan<T> expected, ReadOnlySpan<T> actual, string what, double atol, double rtol) where T : INumberBase<T>
    {
        if (expected.Length != actual.Length) Assert.Fail($"{what}: {actual.Length} elements, expected {expected.Length}");
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = double.CreateTruncating(expected[i]), a = double.CreateTruncating(actual[i]);
            double ratio = a == e ? 0 : Math.Abs(a - e) / (atol + rtol * Math.Abs(e));  // +inf where nothing is allowed
            if (double.IsNaN(ratio)) ratio = double.PositiveInfinity;
            if (ratio > worstRatio) { worstRatio = ratio; worst = i; }
        }
        if (worstRatio > 1)
            Assert.Fail($"{what}: element {worst} of {expected.Length} is {actual[worst]:R}, expected {expected[worst]:R} " +
                        $"(|diff| {Math.Abs(double.CreateTruncating(actual[worst]) - double.CreateTruncating(expected[worst])):G3} is " +
                        $"{worstRatio:G3} x the allowed {atol:G2} + {rtol:G2}|expected|)");
    }
}
