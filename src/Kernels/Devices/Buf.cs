using System.Runtime.CompilerServices;

namespace RawFlipFlop.Kernels.Devices;

/// <summary>
/// A typed view of device memory: an address and an element count. On the CPU and the emulator the address
/// is host memory; on a GPU it is a device pointer. Views are sliced from a few large allocations
/// (parameters, gradients, optimizer state, activations), as llm.c does.
/// </summary>
public readonly struct Buf<T> where T : unmanaged
{
    public readonly nint Address;
    public readonly long Length;

    public Buf(nint address, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Address = address;
        Length = length;
    }

    public static Buf<T> Empty => default;
    public bool IsEmpty => Length == 0;
    public long Bytes => Length * Unsafe.SizeOf<T>();

    public Buf<T> Slice(long start, long length)
    {
        if (start < 0 || length < 0 || start + length > Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + length}) outside a buffer of {Length}");
        return new Buf<T>(Address + (nint)(start * Unsafe.SizeOf<T>()), length);
    }

    public Buf<T> Slice(long start) => Slice(start, Length - start);

    /// <summary>Host pointer (valid only for host-memory devices).</summary>
    public unsafe T* Ptr => (T*)Address;

    /// <summary>Host span (valid only for host-memory devices).</summary>
    public unsafe Span<T> Span => new((void*)Address, checked((int)Length));

    /// <summary>A kernel argument: the buffer's device address (null when empty).</summary>
    public static implicit operator KernelArg(Buf<T> buffer) => KernelArg.Of(buffer);

    public override string ToString() => $"Buf<{typeof(T).Name}>[{Length}]";
}
