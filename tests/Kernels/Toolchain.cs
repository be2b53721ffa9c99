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

    /// <summary>The test-only kernels (tests/Kernels/test_kernels.cu).</summary>
    public static KernelSource TestKernels { get; } = KernelSource.Parse("test_kernels.cu", ReadResource("test_kernels.cu"));

    static string ReadResource(string name)
    {
        using var stream = typeof(Toolchain).Assembly.GetManifestResourceStream(name) ?? throw new InvalidOperationException($"resource {name} missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
