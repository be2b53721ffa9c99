using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Caches;

/// <summary>
/// NVRTC modules (cubins, PTX) in the kernel cache are verified when read: a damaged entry is discarded and
/// compiled again (the driver would reject it on every run), a valid one is reused.
/// </summary>
[Trait("Category", "Nvrtc")]
public class NvrtcCacheTests
{
    static readonly KernelSource Source = KernelSource.Parse("small.cu", "extern \"C\" __global__ void k(float* x) { x[threadIdx.x] *= 2.0f; }\n");
    static readonly KernelSource Other = KernelSource.Parse("other.cu", "extern \"C\" __global__ void k(float* x) { x[threadIdx.x] += 1.0f; }\n");

    [Theory]
    [MemberData(nameof(CacheDamage.All), MemberType = typeof(CacheDamage))]
    public void A_damaged_cubin_is_compiled_again(Damage damage) => DamagedEntryIsCompiledAgain(damage, "sm_80");

    [Theory]
    [InlineData(Damage.BitFlipped)]
    [InlineData(Damage.Truncated)]
    public void A_damaged_ptx_is_compiled_again(Damage damage) => DamagedEntryIsCompiledAgain(damage, "compute_80");

    static void DamagedEntryIsCompiledAgain(Damage damage, string architecture)
    {
        Toolchain.RequireNvrtc();
        using var dir = new TempDir();
        var original = KernelCompiler.Compile(Source, architecture, cacheDirectory: dir.Path);
        string entry = Assert.Single(Directory.GetFiles(dir.Path));
        KernelCompiler.Compile(Other, architecture, cacheDirectory: dir.Path);
        string other = Assert.Single(Directory.GetFiles(dir.Path), f => f != entry);
        Assert.True(KernelCompiler.Compile(Source, architecture, cacheDirectory: dir.Path).FromCache);  // a valid entry is reused

        CacheDamage.Apply(damage, entry, other);
        var again = KernelCompiler.Compile(Source, architecture, cacheDirectory: dir.Path);
        Assert.False(again.FromCache);
        Assert.Equal(original.Image, again.Image);
        Assert.Equal(original.Log, again.Log);
        var reused = KernelCompiler.Compile(Source, architecture, cacheDirectory: dir.Path);
        Assert.True(reused.FromCache);
        Assert.Equal(original.Image, reused.Image);
        Assert.Equal(2, Directory.GetFiles(dir.Path).Length);
    }
}
