using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Gpu;

/// <summary>
/// One run of a comparison scenario on one device: the buffers it allocates (freed on dispose, with the ops) and
/// the outputs it names for comparison. A scenario is written once against <see cref="Ops"/> and runs on the CPU
/// twins and on the device under test alike.
/// </summary>
public sealed class ComparisonSession(IDevice device, IOps<float> ops) : IDisposable
{
    readonly List<Action> _frees = [];
    readonly List<(string Name, Buf<float> Buffer)> _floats = [];
    readonly List<(string Name, Buf<int> Buffer)> _ints = [];

    public IDevice Device { get; } = device;
    public IOps<float> Ops { get; } = ops;

    /// <summary>A buffer holding <paramref name="values"/> (the empty buffer for no values: an absent optional input).</summary>
    public Buf<float> F(float[] values) => values.Length == 0 ? Buf<float>.Empty : Owned(Device.AllocateFrom<float>(values));

    public Buf<int> I(int[] values) => Owned(Device.AllocateFrom<int>(values));

    public Buf<float> Zeros(long n) => Owned(Device.Allocate<float>(n));

    public Buf<int> IntZeros(long n) => Owned(Device.Allocate<int>(n));

    /// <summary>Compares <paramref name="buffer"/>'s contents after the scenario (to the tolerance of the comparison).</summary>
    public void Output(string name, Buf<float> buffer) => _floats.Add((name, buffer));

    /// <summary>Compares <paramref name="buffer"/>'s contents after the scenario (exactly).</summary>
    public void Output(string name, Buf<int> buffer) => _ints.Add((name, buffer));

    /// <summary>The named outputs' contents (waits for the device).</summary>
    public ComparisonOutputs Read()
    {
        Device.Synchronize();
        return new ComparisonOutputs(
            _floats.Select(o => (o.Name, Device.ToArray(o.Buffer))).ToList(),
            _ints.Select(o => (o.Name, Device.ToArray(o.Buffer))).ToList());
    }

    Buf<T> Owned<T>(Buf<T> buffer) where T : unmanaged
    {
        _frees.Add(() => Device.Free(buffer));
        return buffer;
    }

    public void Dispose()
    {
        foreach (var free in _frees) free();
        (Ops as IDisposable)?.Dispose();
    }
}

/// <summary>The named outputs of one run of a scenario, in the order it named them.</summary>
public sealed record ComparisonOutputs(IReadOnlyList<(string Name, float[] Values)> Floats, IReadOnlyList<(string Name, int[] Values)> Ints)
{
    public float[] Float(string name) => Floats.Single(o => o.Name == name).Values;
    public int[] Int(string name) => Ints.Single(o => o.Name == name).Values;
}

/// <summary>Runs scenarios on the CPU twins and on kernel devices, and compares their outputs.</summary>
public static class KernelComparison
{
    public static ComparisonOutputs Run(IDevice device, IOps<float> ops, Action<ComparisonSession> scenario)
    {
        using var session = new ComparisonSession(device, ops);
        scenario(session);
        return session.Read();
    }

    /// <summary>The scenario on the CPU twins (<see cref="CpuOps{T}"/>): the reference.</summary>
    public static ComparisonOutputs OnCpu(Action<ComparisonSession> scenario)
    {
        using var cpu = new CpuDevice();
        return Run(cpu, new CpuOps<float>(cpu), scenario);
    }

    /// <summary>The scenario through the kernels (<see cref="GpuOps"/>) on <paramref name="device"/>.</summary>
    public static ComparisonOutputs OnDevice(IKernelDevice device, Action<ComparisonSession> scenario) => Run(device, new GpuOps(device), scenario);

    /// <summary>Every float output to atol and rtol (<see cref="KernelAssert.Close(ReadOnlySpan{float}, ReadOnlySpan{float}, string, double, double)"/>), every int output exactly.</summary>
    public static void AssertClose(ComparisonOutputs expected, ComparisonOutputs actual, double atol, double rtol)
    {
        Assert.Equal(expected.Floats.Select(o => o.Name), actual.Floats.Select(o => o.Name));
        Assert.Equal(expected.Ints.Select(o => o.Name), actual.Ints.Select(o => o.Name));
        for (int i = 0; i < expected.Floats.Count; i++)
            KernelAssert.Close(expected.Floats[i].Values, actual.Floats[i].Values, expected.Floats[i].Name, atol, rtol);
        for (int i = 0; i < expected.Ints.Count; i++)
            KernelAssert.Equal(expected.Ints[i].Values, actual.Ints[i].Values, expected.Ints[i].Name);
    }
}
