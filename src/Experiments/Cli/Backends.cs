using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>Turns `--backend` into a device and its float ops.</summary>
public static class Backends
{
    public const string Cpu = "cpu";
    public static readonly string[] Names = ["cpu", "cuda", "emulator"];

    public sealed record Backend(string Name, IDevice Device, IOps<float> Ops) : IDisposable
    {
        public void Dispose() => Device.Dispose();
    }

    public static Backend Open(string name, CliOutput output)
    {
        switch (name)
        {
            case "cpu":
                var device = new CpuDevice();
                return new Backend(name, device, new CpuOps<float>(device));
            case "cuda":
            case "emulator":
                throw new CliException($"backend {name}: the GPU op set (kernels for every op) is not complete yet; use --backend cpu");
            default:
                throw new CliException($"--backend must be one of {string.Join(", ", Names)}, got \"{name}\"");
        }
    }
}
