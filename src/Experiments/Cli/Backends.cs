using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>Turns `--backend` into a device and its float ops: the CPU twins, or the kernels on a GPU or the emulator.</summary>
public static class Backends
{
    public const string Cpu = "cpu";
    public static readonly string[] Names = ["cpu", "cuda", "emulator", "auto"];

    public sealed record Backend(string Name, IDevice Device, IOps<float> Ops) : IDisposable
    {
        public void Dispose()
        {
            (Ops as IDisposable)?.Dispose();
            Device.Dispose();
        }
    }

    /// <summary>
    /// Opens a backend: cpu, cuda, emulator, or auto (CUDA when a GPU is usable, else the CPU, saying why on stderr).
    /// An explicit cuda or emulator that cannot be opened is an error naming the reason.
    /// </summary>
    public static Backend Open(string name, CliOutput output)
    {
        if (!Names.Contains(name)) throw new CliException($"--backend must be one of {string.Join(", ", Names)}, got \"{name}\"");
        IDevice device;
        try { device = DeviceSelection.Open(name, out var note); if (note != null) output.Err.WriteLine($"note: {note}"); }
        catch (InvalidOperationException e) { throw new CliException(e.Message); }
        return device switch
        {
            IKernelDevice kernels => new Backend(kernels.Name, device, new GpuOps(kernels)),
            _ => new Backend(Cpu, device, new CpuOps<float>(device)),
        };
    }
}
