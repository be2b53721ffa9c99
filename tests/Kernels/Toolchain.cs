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

    /// <summary>A single-node Slurm cluster can be started here (tests/slurm/cluster.sh): its daemons installed, and root.</summary>
    public static void RequireSlurm()
    {
        var missing = new[] { "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/sbin/munged", "/usr/bin/sbatch", "/usr/bin/sinfo", "/usr/bin/scontrol" }
            .Where(path => !File.Exists(path)).ToList();
        if (missing.Count > 0) Missing($"Slurm is not installed (missing {string.Join(", ", missing)}; apt-get install slurmctld slurmd slurm-client munge)");
        // not an install step CI can take: without root the test skips even under RFF_REQUIRE_TOOLCHAIN
        if (Environment.UserName != "root") Assert.Skip("a local Slurm cluster needs root (slurmd starts each job as its owner)");
    }

    static void Missing(string reason)
    {
        if (Required) Assert.Fail($"RFF_REQUIRE_TOOLCHAIN=1 but: {reason}");
        Assert.Skip(reason);
    }

    /// <summary>The test-only kernels (tests/Kernels/test_kernels.cu).</summary>
    public static KernelSource TestKernels { get; } = KernelSource.Parse("test_kernels.cu", ReadResource("test_kernels.cu"));

    /// <summary>
    /// The test kernels of kernels.cu's warp-matrix primitives: its section from the "Warp-matrix primitives" banner to
    /// "end of the warp-matrix primitives", then tests/Kernels/test_warp_matrix.cu.
    /// </summary>
    public static KernelSource WarpMatrixKernels { get; } = KernelSource.Parse("test_warp_matrix.cu",
        PrimitivesSection(KernelSource.Default.Text) + ReadResource("test_warp_matrix.cu"));

    static string PrimitivesSection(string kernels)
    {
        const string Banner = "// Warp-matrix primitives", End = "// ---- end of the warp-matrix primitives ----";
        int banner = kernels.IndexOf(Banner, StringComparison.Ordinal), end = kernels.IndexOf(End, StringComparison.Ordinal);
        if (banner < 0 || end < banner) throw new InvalidOperationException("kernels.cu has no warp-matrix primitives section");
        int start = kernels.LastIndexOf("// ----", banner, StringComparison.Ordinal);
        return kernels[start..(end + End.Length)] + "\n\n";
    }

    static string ReadResource(string name)
    {
        using var stream = typeof(Toolchain).Assembly.GetManifestResourceStream(name) ?? throw new InvalidOperationException($"resource {name} missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
