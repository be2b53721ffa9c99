using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels;

/// <summary>
/// Skips a test whose tool is missing (NVRTC, a C++ compiler), with the reason. When RFF_REQUIRE_TOOLCHAIN=1 (CI
/// sets it after installing both) a missing tool fails the test instead.
/// </summary>
public static class Toolchain
{
    static bool Required => Environment.GetEnvironmentVariable("RFF_REQUIRE_TOOLCHAIN") == "1";

    public static void RequireNvrtc()
    {
        if (!Nvrtc.IsAvailable(out string reason)) Missing(reason);
    }

    public static void RequireCompiler()
    {
        if (!EmulatorLibrary.IsCompilerAvailable(out string reason)) Missing(reason);
    }

    static void Missing(string reason)
    {
        if (Required) Assert.Fail($"RFF_REQUIRE_TOOLCHAIN=1 but: {reason}");
        Assert.Skip(reason);
    }

    /// <summary>The test-only kernels (tests/Cuda/test_kernels.cu).</summary>
    public static KernelSource TestKernels { get; } = KernelSource.Parse("test_kernels.cu", ReadResource("test_kernels.cu"));

    static string ReadResource(string name)
    {
        using var stream = typeof(Toolchain).Assembly.GetManifestResourceStream(name) ?? throw new InvalidOperationException($"resource {name} missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

/// <summary>The brief's comparison rule: |actual - expected| &lt;= atol + rtol |expected|, reporting the worst element.</summary>
public static class KernelAssert
{
    public const double Tolerance = 1e-5;

    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what, double atol = Tolerance, double rtol = Tolerance)
    {
        Assert.Equal(expected.Length, actual.Length);
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            double allowed = atol + rtol * Math.Abs(e);
            double ratio = double.IsFinite(a) ? Math.Abs(a - e) / allowed : double.PositiveInfinity;
            if (!(ratio <= worstRatio)) { worstRatio = ratio; worst = i; }
        }
        if (worst >= 0 && worstRatio > 1)
            Assert.Fail($"{what}: element {worst} of {expected.Length} is {actual[worst]:R}, expected {expected[worst]:R} " +
                        $"(|diff| {Math.Abs(actual[worst] - (double)expected[worst]):G3} is {worstRatio:G3} x the allowed {atol:G2} + {rtol:G2}|ref|)");
    }
}
