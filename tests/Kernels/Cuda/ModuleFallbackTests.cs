using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Cuda;

/// <summary>Loading kernels the first way that works, and saying what every way did when none does.</summary>
[Trait("Category", "Cpu")]
public class ModuleFallbackTests
{
    static ModuleAttempt<string> Fails(string description, int cudaError) =>
        new(description, () => throw new CudaException("cuModuleLoadDataEx (kernels.cu)", cudaError));

    static ModuleAttempt<string> Works(string description) => new(description, () => description);

    [Fact]
    public void An_image_the_driver_rejects_moves_on_to_the_next_attempt()
    {
        string loaded = ModuleFallback.LoadFirst("loading kernels.cu",
            [Fails("NVRTC 12.6, sm_90 cubin", CudaErrors.UnsupportedPtxVersion), Fails("NVRTC 12.6, compute_90 PTX", CudaErrors.InvalidPtx),
             Fails("NVRTC 12.4, sm_90 cubin", CudaErrors.NoBinaryForGpu), Works("NVRTC 12.4, compute_90 PTX"), Works("never")], []);
        Assert.Equal("NVRTC 12.4, compute_90 PTX", loaded);
    }

    [Fact]
    public void When_every_attempt_fails_each_is_reported_with_its_reason()
    {
        var e = Assert.Throws<ModuleLoadException>(() => ModuleFallback.LoadFirst("loading kernels.cu on GPU 0",
            [Fails("NVRTC 12.6 (/usr/lib/libnvrtc.so.12), sm_90 cubin", CudaErrors.InvalidImage),
             new ModuleAttempt<string>("NVRTC 11.0 (/opt/libnvrtc.so.11.0)", () => throw new NvrtcException("it supports none of the architectures up to sm_90"))],
            ["NVRTC 13.0 (/opt/libnvrtc.so.13): NVRTC 13.0 is newer than the driver, which supports CUDA 12.6"]));
        Assert.StartsWith("loading kernels.cu on GPU 0 failed every way:", e.Message);
        Assert.Equal(3, e.Failures.Count);
        Assert.Contains("/usr/lib/libnvrtc.so.12), sm_90 cubin: cuModuleLoadDataEx (kernels.cu) failed: CUDA_ERROR_INVALID_IMAGE", e.Message);
        Assert.Contains("/opt/libnvrtc.so.11.0): it supports none", e.Message);
        Assert.Contains("not tried: NVRTC 13.0 (/opt/libnvrtc.so.13): NVRTC 13.0 is newer than the driver", e.Message);
    }

    [Fact]
    public void Other_failures_end_the_search_at_once()
    {
        bool laterRan = false;
        var e = Assert.Throws<CudaException>(() => ModuleFallback.LoadFirst("loading kernels.cu",
            [Fails("first", 2), new ModuleAttempt<string>("second", () => { laterRan = true; return ""; })], []));
        Assert.Contains("CUDA_ERROR_OUT_OF_MEMORY", e.Message);
        Assert.False(laterRan);
        Assert.Contains("no NVRTC", Assert.Throws<ModuleLoadException>(() => ModuleFallback.LoadFirst<string>("loading", [], [])).Message);
    }

    [Fact]
    public void Images_that_another_nvrtc_or_ptx_may_fix_are_told_apart()
    {
        foreach (int code in new[] { 200, 209, 218, 221, 222, 223 }) Assert.True(CudaErrors.IsIncompatibleImage(code), $"{code}");
        foreach (int code in new[] { 0, 1, 2, 201, 700, 999 }) Assert.False(CudaErrors.IsIncompatibleImage(code), $"{code}");
    }

    [Fact]
    public void Each_form_follows_what_nvrtc_supports()
    {
        int[] supported = [75, 80, 86, 89, 90];
        Assert.Equal(["sm_90", "compute_90"], KernelCompiler.ArchitecturesFor(9, 0, supported));
        Assert.Equal(["compute_90"], KernelCompiler.ArchitecturesFor(12, 0, supported));
        Assert.Equal(["compute_80"], KernelCompiler.ArchitecturesFor(8, 2, supported));
        Assert.Empty(KernelCompiler.ArchitecturesFor(7, 0, supported));
    }
}

/// <summary>The attempts for real NVRTCs: a cubin, then PTX when the driver rejects it.</summary>
[Trait("Category", "Nvrtc")]
public class ModuleAttemptTests
{
    static readonly KernelSource Source = KernelSource.Parse("small.cu", "extern \"C\" __global__ void k(float* x) { x[threadIdx.x] *= 2.0f; }\n");

    [Fact]
    public void A_rejected_cubin_falls_back_to_ptx_from_the_same_nvrtc()
    {
        Toolchain.RequireNvrtc();
        var nvrtc = Nvrtc.RequireDefault();
        using var dir = new TempDir();
        var attempts = ModuleFallback.Attempts([nvrtc], 8, 0, (library, architecture) =>
        {
            var module = KernelCompiler.Compile(Source, architecture, cacheDirectory: dir.Path, nvrtc: library);
            // A stand-in for a driver too old for this NVRTC's cubins.
            return module.IsCubin ? throw new CudaException("cuModuleLoadDataEx (small.cu)", CudaErrors.InvalidImage) : module;
        }).ToList();
        Assert.Equal([$"{nvrtc}, sm_80 cubin", $"{nvrtc}, compute_80 PTX"], attempts.Select(a => a.Description));
        var loaded = ModuleFallback.LoadFirst("loading small.cu", attempts, []);
        Assert.False(loaded.IsCubin);
        Assert.Contains(".target sm_80", System.Text.Encoding.ASCII.GetString(loaded.Image));
    }

    [Fact]
    public void An_nvrtc_that_knows_no_architecture_up_to_the_device_is_a_failed_attempt_that_says_so()
    {
        Toolchain.RequireNvrtc();
        var nvrtc = Nvrtc.RequireDefault();
        var attempt = Assert.Single(ModuleFallback.Attempts<string>([nvrtc], 2, 0, (_, _) => "never"));
        var e = Assert.Throws<ModuleLoadException>(() => ModuleFallback.LoadFirst("loading", [attempt], []));
        Assert.Contains(nvrtc.Path, e.Message);
        Assert.Contains("none of the architectures up to sm_20", e.Message);
    }
}
