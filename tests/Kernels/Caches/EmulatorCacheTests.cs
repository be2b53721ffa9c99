using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Caches;

/// <summary>Two valid emulator cache entries, built once for the tests that damage copies of them.</summary>
public sealed class PristineEmulatorEntries : IDisposable
{
    /// <summary>Another source, so that its entry is a different, valid library.</summary>
    public static readonly KernelSource Other = KernelSource.Parse("twice.cu", """
        extern "C" __global__ void __launch_bounds__(64) twice(float* x, int n)
        {
            int i = blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) x[i] *= 2.0f;
        }
        #define RFF_KERNEL_TABLE(X) X(twice)
        """);

    readonly TempDir _dir = new();

    public string Directory => _dir.Path;

    public PristineEmulatorEntries()
    {
        if (!EmulatorLibrary.IsCompilerAvailable(out _)) return;  // the tests skip (or fail) through Toolchain
        EmulatorLibrary.LoadFrom(Toolchain.TestKernels, Directory);
        EmulatorLibrary.LoadFrom(Other, Directory);
    }

    /// <summary>A cache directory holding copies of both entries; returns the test kernels' entry and the other one.</summary>
    public (string Entry, string OtherEntry) CopyTo(string directory)
    {
        string entry = EmulatorLibrary.EntryPath(Toolchain.TestKernels, directory), other = EmulatorLibrary.EntryPath(Other, directory);
        File.Copy(EmulatorLibrary.EntryPath(Toolchain.TestKernels, Directory), entry);
        File.Copy(EmulatorLibrary.EntryPath(Other, Directory), other);
        return (entry, other);
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>
/// Emulator libraries in the kernel cache are verified before they are loaded: a damaged entry is discarded and
/// rebuilt (loading it as it is would kill the process), a valid one is reused.
/// </summary>
[Trait("Category", "Emulator")]
public class EmulatorCacheTests(PristineEmulatorEntries pristine) : IClassFixture<PristineEmulatorEntries>
{
    [Fact]
    public void A_valid_entry_is_reused()
    {
        Toolchain.RequireCompiler();
        using var dir = new TempDir();
        pristine.CopyTo(dir.Path);
        var library = EmulatorLibrary.LoadFrom(Toolchain.TestKernels, dir.Path);
        Assert.False(library.Compiled);
        AssertKernelsRun(library);
    }

    [Theory]
    [MemberData(nameof(CacheDamage.All), MemberType = typeof(CacheDamage))]
    public void A_damaged_entry_is_rebuilt_and_its_kernels_run(Damage damage)
    {
        Toolchain.RequireCompiler();
        using var dir = new TempDir();
        var (entry, other) = pristine.CopyTo(dir.Path);
        CacheDamage.Apply(damage, entry, other);

        var library = EmulatorLibrary.LoadFrom(Toolchain.TestKernels, dir.Path);
        Assert.True(library.Compiled, "the damaged entry was loaded instead of rebuilt");
        AssertKernelsRun(library);
        Assert.NotNull(KernelCache.Read(entry));  // replaced by a valid entry ...
        Assert.False(EmulatorLibrary.LoadFrom(Toolchain.TestKernels, dir.Path).Compiled);  // ... that is reused
        Assert.NotNull(KernelCache.Read(other));  // the other entry is untouched
        Assert.Equal(2, Directory.GetFileSystemEntries(dir.Path).Length);  // no temporary files or build directories
    }

    [Fact]
    public void An_entry_that_verifies_but_does_not_load_is_rebuilt()
    {
        Toolchain.RequireCompiler();
        using var dir = new TempDir();
        var (entry, _) = pristine.CopyTo(dir.Path);
        KernelCache.Write(entry, "not a shared library"u8);  // a valid hash over bytes the loader refuses
        var library = EmulatorLibrary.LoadFrom(Toolchain.TestKernels, dir.Path);
        Assert.True(library.Compiled);
        AssertKernelsRun(library);
    }

    /// <summary>neighbour_sum against its reference.</summary>
    static void AssertKernelsRun(EmulatorLibrary library)
    {
        using var device = new EmulatedDevice(library, new EmulatorOptions());
        const int n = 1000;
        var random = new System.Random(5);
        var values = Enumerable.Range(0, n).Select(_ => (float)random.NextDouble()).ToArray();
        var input = device.AllocateFrom<float>(values);
        var output = device.Allocate<float>(n);
        device.Launch("neighbour_sum", Dim3.Blocks(n, 256), 256, 0, output, input, n);
        Assert.Equal(values.Select((v, i) => v + (i % 256 > 0 ? values[i - 1] : 0f)), device.ToArray(output));
    }
}
