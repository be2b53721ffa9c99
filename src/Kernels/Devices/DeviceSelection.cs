using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Emulator;

namespace RawFlipFlop.Kernels.Devices;

/// <summary>
/// Opens the device a user asked for: "cpu", "cuda", "emulator", or "auto" (CUDA when a GPU is usable, else the
/// CPU). Only "auto" falls back, and it says why in <c>note</c>; an explicit "cuda" or "emulator" that cannot be
/// opened is an error naming the reason.
/// </summary>
public static class DeviceSelection
{
    public static readonly IReadOnlyList<string> Names = ["auto", "cpu", "cuda", "emulator"];

    public static IDevice Open(string name, out string? note)
    {
        note = null;
        switch (name.ToLowerInvariant())
        {
            case "cpu":
                return new CpuDevice();
            case "cuda":
                return CudaDevice.TryCreate(out var cuda, out string reason) ? cuda! : throw new InvalidOperationException($"CUDA is not usable: {reason}");
            case "emulator":
                return EmulatedDevice.TryCreate(out var emulator, out reason) ? emulator! : throw new InvalidOperationException($"the emulator is not usable: {reason}");
            case "auto":
                if (CudaDevice.TryCreate(out cuda, out reason)) return cuda!;
                note = $"CUDA is not usable ({reason}); running on the CPU";
                return new CpuDevice();
            default:
                throw new ArgumentException($"unknown device '{name}' (expected {string.Join(", ", Names)})");
        }
    }
}
