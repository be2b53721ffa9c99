using System.Globalization;
using System.Runtime.InteropServices;

namespace RawFlipFlop.Kernels.Devices;

/// <summary>
/// A device that runs the kernels of kernels.cu: the real GPU (<see cref="Cuda.CudaDevice"/>) and the emulator
/// (<see cref="Emulator.EmulatedDevice"/>). The GPU ops (<see cref="Gpu.GpuOps"/>) are written once over it.
/// Launches are queued in order; <see cref="IDevice.Synchronize"/> waits for them and downloads wait implicitly.
/// </summary>
public interface IKernelDevice : IDevice
{
    /// <summary>
    /// Dynamic shared memory a block may use without the kernel opting in (cuFuncSetAttribute): 48 KiB on every
    /// architecture. Launches above it are allowed; the CUDA device opts in for them (up to the GPU's limit).
    /// </summary>
    const int DefaultDynamicSharedBytes = 48 * 1024;

    /// <summary>
    /// Runs kernel <paramref name="kernel"/> (a name from the kernel table) on <paramref name="grid"/> blocks of
    /// <paramref name="block"/> threads with <paramref name="sharedBytes"/> bytes of dynamic shared memory.
    /// The arguments must match the kernel's parameters in number and type (buffers convert to pointers).
    /// </summary>
    void Launch(string kernel, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args);

    /// <summary>
    /// The most blocks of <paramref name="kernel"/> with <paramref name="block"/> threads and <paramref name="sharedBytes"/>
    /// of dynamic shared memory that can be resident at once (blocks per SM x SMs): the largest grid
    /// <see cref="LaunchCooperative"/> accepts. 0 when the device cannot launch it cooperatively at all.
    /// </summary>
    int CooperativeBlocks(string kernel, Dim3 block, int sharedBytes);

    /// <summary>
    /// <see cref="Launch"/> with every block resident at once (cuLaunchCooperativeKernel), so that the kernel may wait for
    /// the whole grid (kernels.cu's grid_sync). A grid larger than <see cref="CooperativeBlocks"/> is refused with an
    /// error that names the kernel and both counts.
    /// </summary>
    void LaunchCooperative(string kernel, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args);
}

/// <summary>Grid or block dimensions, as CUDA's dim3.</summary>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public ulong Count => (ulong)X * Y * Z;

    public static implicit operator Dim3(int x) => new(checked((uint)x));
    public static implicit operator Dim3(uint x) => new(x);

    /// <summary>ceil(count / per), at least 1: the number of blocks that cover <paramref name="count"/> items.</summary>
    public static uint Blocks(long count, long per) => (uint)Math.Max(1, (count + per - 1) / per);

    public override string ToString() => $"({X},{Y},{Z})";
}

/// <summary>The C type of a kernel parameter; the values are the letters the emulator's signatures use.</summary>
public enum KernelArgKind
{
    Pointer = 'p',
    Int32 = 'i',
    UInt32 = 'u',
    Int64 = 'l',
    UInt64 = 'L',
    Float32 = 'f',
    Float64 = 'd',
}

/// <summary>One kernel argument: a device pointer or a scalar, with its C type.</summary>
[StructLayout(LayoutKind.Sequential)]
public readonly struct KernelArg
{
    /// <summary>The value's bits, little-endian in the low bytes (4-byte types use the low 4 bytes).</summary>
    public readonly ulong Bits;
    public readonly KernelArgKind Kind;

    KernelArg(ulong bits, KernelArgKind kind)
    {
        Bits = bits;
        Kind = kind;
    }

    public static KernelArg Pointer(nint address) => new((ulong)address, KernelArgKind.Pointer);

    /// <summary>A null pointer (an optional buffer that is absent, e.g. a bias).</summary>
    public static KernelArg Null => Pointer(0);

    /// <summary>The buffer's address, or null when the buffer is empty.</summary>
    public static KernelArg Of<T>(Buf<T> buffer) where T : unmanaged => Pointer(buffer.IsEmpty ? 0 : buffer.Address);

    public static implicit operator KernelArg(int value) => new((uint)value, KernelArgKind.Int32);
    public static implicit operator KernelArg(uint value) => new(value, KernelArgKind.UInt32);
    public static implicit operator KernelArg(long value) => new((ulong)value, KernelArgKind.Int64);
    public static implicit operator KernelArg(ulong value) => new(value, KernelArgKind.UInt64);
    public static implicit operator KernelArg(float value) => new(BitConverter.SingleToUInt32Bits(value), KernelArgKind.Float32);
    public static implicit operator KernelArg(double value) => new(BitConverter.DoubleToUInt64Bits(value), KernelArgKind.Float64);

    public override string ToString() => Kind switch
    {
        KernelArgKind.Pointer => $"0x{Bits:x}",
        KernelArgKind.Int32 => ((int)(uint)Bits).ToString(CultureInfo.InvariantCulture),
        KernelArgKind.UInt32 => ((uint)Bits).ToString(CultureInfo.InvariantCulture) + "u",
        KernelArgKind.Int64 => ((long)Bits).ToString(CultureInfo.InvariantCulture) + "ll",
        KernelArgKind.UInt64 => Bits.ToString(CultureInfo.InvariantCulture) + "ull",
        KernelArgKind.Float32 => BitConverter.UInt32BitsToSingle((uint)Bits).ToString("R", CultureInfo.InvariantCulture) + "f",
        _ => BitConverter.UInt64BitsToDouble(Bits).ToString("R", CultureInfo.InvariantCulture),
    };
}
