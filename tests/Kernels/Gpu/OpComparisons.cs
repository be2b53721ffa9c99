using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Gpu;

/// <summary>
/// Every op of <see cref="GpuOps"/> against its CPU twin in <see cref="CpuOps{T}"/>: a scenario runs once on the
/// CPU twins and once on the device under test, and the outputs it names are compared with
/// <see cref="KernelAssert"/> (atol = rtol = 1e-5 unless a test says why not; integer outputs exactly).
/// Accumulated ("+=") outputs start from random values, so the accumulation is checked too. One file per op
/// family, named like GpuOps's; three classes below run them all: the emulator in order, the emulator with the
/// threads of every block in a shuffled order (missing barriers would show), and a real GPU.
/// </summary>
public abstract partial class OpComparisons
{
    /// <summary>The device under test, or null with the reason (the tests then skip).</summary>
    protected abstract IKernelDevice? Device(out string reason);

    protected IKernelDevice Open()
    {
        var device = Device(out string reason);
        if (device == null) Assert.Skip(reason);
        return device;
    }

    /// <summary>Runs the scenario on the CPU twins and on the device; compares the outputs it names. Returns the CPU's.</summary>
    protected ComparisonOutputs Compare(Action<ComparisonSession> scenario, double atol = KernelAssert.Tolerance, double rtol = KernelAssert.Tolerance)
    {
        var device = Open();
        var expected = KernelComparison.OnCpu(scenario);
        KernelComparison.AssertClose(expected, KernelComparison.OnDevice(device, scenario), atol, rtol);
        return expected;
    }

    /// <summary>n values uniform in offset ± scale, from seed.</summary>
    protected static float[] Random(long n, int seed, double scale = 1, double offset = 0)
    {
        var random = new System.Random(seed);
        var values = new float[n];
        for (long i = 0; i < n; i++) values[i] = (float)(offset + scale * (random.NextDouble() * 2 - 1));
        return values;
    }

    /// <summary>n integers in [0, max), from seed.</summary>
    protected static int[] RandomInts(long n, int max, int seed)
    {
        var random = new System.Random(seed);
        return Enumerable.Range(0, (int)n).Select(_ => random.Next(max)).ToArray();
    }

    // ---- utility ----

    [Fact]
    public void Fill_and_sum()
    {
        var x = Random(100_003, 1);
        // A float sum of 10^5 terms depends on the order (CPU: chunks; GPU: strided lanes and a tree): the
        // tolerance is relative to the sum of magnitudes, 1e-5 of it.
        double atol = 1e-5 * x.Sum(v => Math.Abs(v));
        Compare(s =>
        {
            var sum = s.Zeros(1);
            s.Ops.SumForward(sum, s.F(x), x.Length);
            var filled = s.F(Random(1000, 2));
            s.Ops.Fill(filled, 0.25f);
            s.Output("sum", sum);
            s.Output("fill", filled);
        }, atol: atol);
    }
}

[Trait("Category", "Emulator")]
public sealed class EmulatorOpTests : OpComparisons
{
    protected override IKernelDevice? Device(out string reason)
    {
        Toolchain.RequireCompiler();
        reason = "";
        return new EmulatedDevice(new EmulatorOptions());
    }
}

/// <summary>The comparisons with the threads of every block run in a shuffled order (missing barriers would show).</summary>
[Trait("Category", "Emulator")]
public sealed class ShuffledEmulatorOpTests : OpComparisons
{
    protected override IKernelDevice? Device(out string reason)
    {
        Toolchain.RequireCompiler();
        reason = "";
        return new EmulatedDevice(new EmulatorOptions(ShuffleSeed: 20240601));
    }
}

/// <summary>The comparisons on a real GPU; skipped with the reason where there is none.</summary>
[Trait("Category", "Gpu")]
[Collection(GpuCollection.Name)]
public sealed class GpuOpTests : OpComparisons
{
    protected override IKernelDevice? Device(out string reason) => GpuFixture.Device(out reason);
}
