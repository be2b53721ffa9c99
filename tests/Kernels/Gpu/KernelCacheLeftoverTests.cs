using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Gpu;

[Trait("Category", "Cpu")]
public sealed class KernelCacheLeftoverTests
{
    [Fact]
    public void Old_temporary_files_and_build_directories_are_removed_and_recent_ones_kept()
    {
        using var dir = new TempDir();
        string oldTemp = dir.File(".abc.cubin.123.f00.tmp"), newTemp = dir.File(".abc.cubin.456.f01.tmp");
        string oldBuild = dir.File(".build-123-f00"), newBuild = dir.File(".build-456-f01"), entry = dir.File("abc.cubin");
        foreach (var f in new[] { oldTemp, newTemp, entry }) File.WriteAllText(f, "x");
        foreach (var d in new[] { oldBuild, newBuild }) { Directory.CreateDirectory(d); File.WriteAllText(Path.Combine(d, "unit.cpp"), "x"); }
        var old = DateTime.UtcNow - TimeSpan.FromDays(2);
        File.SetLastWriteTimeUtc(oldTemp, old);
        Directory.SetLastWriteTimeUtc(oldBuild, old);
        File.SetLastWriteTimeUtc(entry, old);
        KernelCache.RemoveStaleLeftovers(dir.Path);
        Assert.False(File.Exists(oldTemp));
        Assert.False(Directory.Exists(oldBuild));
        Assert.True(File.Exists(newTemp));
        Assert.True(Directory.Exists(newBuild));
        Assert.True(File.Exists(entry)); // entries are not leftovers, however old
    }
}
