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
}
