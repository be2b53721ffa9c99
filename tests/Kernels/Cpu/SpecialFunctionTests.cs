using System.Runtime.Intrinsics;
using RawFlipFlop.Kernels.Cpu;

namespace RawFlipFlop.Tests.Kernels.Cpu;

[Trait("Category", "Cpu")]
public sealed class SpecialFunctionTests
{
    [Theory]
    [InlineData(0.5, 0.5204998778130465)]
    [InlineData(-1.0, -0.8427007929497149)]
    [InlineData(2.0, 0.9953222650189527)]
    [InlineData(3.5, 0.9999992569016276)]
    [InlineData(4.0, 0.9999999845827421)]
    [InlineData(1e-3, 0.0011283787909692365)]
    public void DoubleErfIsExactToAFewUlps(double x, double expected) => Assert.Equal(expected, SpecialFunctions.Erf(x), tolerance: 4e-16);

    [Fact]
    public void FloatErfScalarAndVectorAreWithinTheFitsBound()
    {
        for (double x = -6; x <= 6; x += 0.0137)
        {
            double exact = SpecialFunctions.Erf(x);
            Assert.True(Math.Abs(SpecialFunctions.Erf((float)x) - exact) < 2.5e-7, $"scalar erf({x})");
            float v = SpecialFunctions.Erf(Vector256.Create((float)x)).GetElement(3);
            Assert.True(Math.Abs(v - exact) < 2.5e-7, $"vector erf({x}) = {v}, exact {exact}");
        }
    }

    static double Ulps(float actual, double exact)
    {
        float rounded = MathF.Abs((float)exact);
        return Math.Abs(actual - exact) / Math.Max(MathF.BitIncrement(rounded) - rounded, float.Epsilon);
    }

    [Fact]
    public void FloatErfIsWithinOneUlp()
    {
        double worst = 0;
        for (double x = -6; x <= 6; x += 3.7e-5) worst = Math.Max(worst, Ulps(SpecialFunctions.Erf((float)x), SpecialFunctions.Erf((double)(float)x)));
        for (double x = 1e-30; x < 1; x *= 1.37) worst = Math.Max(worst, Ulps(SpecialFunctions.Erf((float)x), SpecialFunctions.Erf((double)(float)x)));
        Assert.True(worst <= 1.0, $"worst {worst} ulp");
        Assert.True(float.IsNaN(SpecialFunctions.Erf(float.NaN)));
        Assert.Equal(1f, SpecialFunctions.Erf(float.PositiveInfinity));
        Assert.Equal(-1f, SpecialFunctions.Erf(float.NegativeInfinity));
    }

    [Fact]
    public void FloatExpIsWithinOneAndAHalfUlpsAndClamps()
    {
        double worst = 0;
        for (double x = -87; x <= 88; x += 1.3e-3)
            worst = Math.Max(worst, Ulps(SpecialFunctions.Exp(Vector256.Create((float)x)).GetElement(5), Math.Exp((float)x)));
        Assert.True(worst <= 1.5, $"worst {worst} ulp");
        Assert.Equal(MathF.Exp(-87f), SpecialFunctions.Exp(Vector256.Create(-1000f)).ToScalar(), 1e-44f);
        Assert.True(float.IsFinite(SpecialFunctions.Exp(Vector256.Create(1000f)).ToScalar()));
        Assert.True(float.IsNaN(SpecialFunctions.Exp(Vector256.Create(float.NaN)).ToScalar()));
    }
}
