using Xunit.Sdk;

namespace RawFlipFlop.Tests.Kernels;

/// <summary>The tolerance rule itself: |actual - expected| &lt;= atol + rtol |expected|, reporting the worst element.</summary>
[Trait("Category", "Cpu")]
public class KernelAssertTests
{
    [Fact]
    public void Differences_within_atol_plus_rtol_of_the_expectation_pass()
    {
        KernelAssert.Close([1f, 100f, 0f], [1.00001f, 100.0009f, 1e-6f], "ok", atol: 1e-5, rtol: 1e-5);
        KernelAssert.Close([0.5, -2.0], [0.5, -2.0], "exact", atol: 0, rtol: 0);
    }

    [Fact]
    public void A_failure_names_the_worst_element()
    {
        // element 1 is 2x its allowance, element 2 10x (the worst)
        var e = Assert.Throws<FailException>(() =>
            KernelAssert.Close([1.0, 1.0, 0.0, 1.0], [1.0, 1.0 + 4e-5, 1e-4, 1.0], "x", atol: 1e-5, rtol: 1e-5));
        Assert.StartsWith("x: element 2 of 4 is 0.0001, expected 0 ", e.Message);
        Assert.Contains("is 10 x the allowed", e.Message);
    }

    [Fact]
    public void Nan_and_infinity_fail_unless_expected()
    {
        Assert.Throws<FailException>(() => KernelAssert.Close([1f], [float.NaN], "nan"));
        Assert.Throws<FailException>(() => KernelAssert.Close([1f], [float.PositiveInfinity], "inf"));
        KernelAssert.Close([float.PositiveInfinity], [float.PositiveInfinity], "same infinity");
        Assert.Throws<FailException>(() => KernelAssert.Close([0.0], [1e-300], "nothing allowed", atol: 0, rtol: 0));
    }

    [Fact]
    public void Lengths_and_integers_must_match_exactly()
    {
        Assert.Throws<FailException>(() => KernelAssert.Close([1f, 2f], [1f], "length"));
        KernelAssert.Equal([1, 2, 3], [1, 2, 3], "ints");
        var e = Assert.Throws<FailException>(() => KernelAssert.Equal([1, 2, 3], [1, 5, 3], "ints"));
        Assert.Equal("ints: element 1 of 3 is 5, expected 2", e.Message);
    }
}
