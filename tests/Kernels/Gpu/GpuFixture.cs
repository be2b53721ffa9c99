using RawFlipFlop.Kernels.Cuda;

namespace RawFlipFlop.Tests.Kernels.Gpu;

/// <summary>One CUDA device for all GPU tests of the process (opened on first use).</summary>
public static class GpuFixture
{
    static readonly Lazy<(CudaDevice? Device, string Reason)> s_device = new(() =>
    {
        bool ok = CudaDevice.TryCreate(out var device, out string reason);
        if (ok) device!.SynchronizeEachLaunch = true;
        return (device, reason);
    });

    public static CudaDevice? Device(out string reason)
    {
        var (device, why) = s_device.Value;
        reason = $"no usable GPU: {why}";
        return device;
    }
}

/// <summary>
/// The GPU tests' collection: its tests run one at a time and never beside another collection's, so a GPU fault
/// (which poisons the context for everything after it) is reported by the test that caused it.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class GpuCollection
{
    public const string Name = "Gpu";
}
