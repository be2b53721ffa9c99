using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Engine.Training;

/// <summary>A device and the float ops that run on it: the CPU twins, or the kernels on a GPU or the emulator.</summary>
public sealed record Backend(string Name, IDevice Device, IOps<float> Ops) : IDisposable
{
    public const string Cpu = "cpu";

    /// <summary>
    /// Opens cpu, cuda, emulator, or auto (CUDA when a GPU is usable, else the CPU, with the reason in
    /// <paramref name="note"/>). An explicit cuda or emulator that cannot be opened throws, naming the reason.
    /// </summary>
    public static Backend Open(string name, out string? note)
    {
        var device = DeviceSelection.Open(name, out note);
        return device switch
        {
            IKernelDevice kernels => new Backend(kernels.Name, device, new GpuOps(kernels)),
            _ => new Backend(Cpu, device, new CpuOps<float>(device)),
        };
    }

    public static IReadOnlyList<string> Names => DeviceSelection.Names;

    public void Dispose()
    {
        (Ops as IDisposable)?.Dispose();
        Device.Dispose();
    }
}
