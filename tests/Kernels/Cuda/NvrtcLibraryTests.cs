using RawFlipFlop.Kernels.Cuda;

namespace RawFlipFlop.Tests.Kernels.Cuda;

/// <summary>Finding and loading NVRTCs (each bound on its own, so several can be loaded at once).</summary>
[Trait("Category", "Nvrtc")]
public class NvrtcLibraryTests
{
    [Fact]
    public void The_libraries_found_are_distinct_and_ordered_for_the_driver()
    {
        Toolchain.RequireNvrtc();
        var found = Nvrtc.Found;
        Assert.NotEmpty(found.Order);
        Assert.Equal(found.Order.Count, found.Order.Select(l => l.Path).Distinct().Count());
        var plan = NvrtcSelection.Choose([.. found.Order.Select(l => l.Candidate)], found.Driver);
        Assert.Equal(plan.Order.Select(c => c.Path), found.Order.Select(l => l.Path));
        Assert.Same(found.Order[0], Nvrtc.Default);
        Assert.Equal(found.Order[0].Version, Nvrtc.Version);
    }

    [Fact]
    public void A_library_that_does_not_load_or_is_not_nvrtc_says_why()
    {
        Assert.Null(NvrtcLibrary.TryLoad("/nonexistent/libnvrtc.so.12", out string missing));
        Assert.Contains("does not load", missing);
        Assert.Null(NvrtcLibrary.TryLoad("libc.so.6", out string notNvrtc));
        Assert.Contains("not a usable NVRTC", notNvrtc);
        Assert.Contains("nvrtc", notNvrtc);
    }

    [Fact]
    public void Errors_name_the_library()
    {
        Toolchain.RequireNvrtc();
        var nvrtc = Nvrtc.RequireDefault();
        var e = Assert.Throws<NvrtcException>(() => nvrtc.Compile("extern \"C\" __global__ void k() {}", "k.cu", ["--no-such-option"]));
        Assert.Contains("NVRTC_ERROR_INVALID_OPTION", e.Message);
        Assert.Contains(nvrtc.Path, e.Message);
    }
}
