using System.Runtime.CompilerServices;

namespace RawFlipFlop.Kernels.Devices;

/// <summary>
/// Host memory a device copies to and from without the host waiting (<see cref="IDevice.UploadAsync{T}"/>,
/// <see cref="IDevice.DownloadAsync{T}"/>): page-locked on a GPU, ordinary memory elsewhere. Allocated with
/// <see cref="IDevice.AllocateHost{T}"/> and freed with <see cref="IDevice.FreeHost{T}"/> or with the device.
/// </summary>
public readonly struct HostBuf<T> where T : unmanaged
{
    public readonly nint Address;
    public readonly long Length;

    public HostBuf(nint address, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Address = address;
        Length = length;
    }

    public long Bytes => Length * Unsafe.SizeOf<T>();

    public unsafe Span<T> Span => new((void*)Address, checked((int)Length));

    public HostBuf<T> Slice(long start, long length)
    {
        if (start < 0 || length < 0 || start + length > Length)
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + length}) outside a host buffer of {Length}");
        return new HostBuf<T>(Address + (nint)(start * Unsafe.SizeOf<T>()), length);
    }

    public override string ToString() => $"HostBuf<{typeof(T).Name}>[{Length}]";
}

/// <summary>
/// A point in a device's queue: <see cref="Record"/> marks everything queued so far, <see cref="Wait"/> returns once it
/// is done (a CUDA event on a GPU; devices that run work as it is queued are always done).
/// </summary>
public abstract class DeviceFence : IDisposable
{
    public abstract void Record();

    public abstract void Wait();

    public virtual void Dispose() => GC.SuppressFinalize(this);

    /// <summary>The fence of devices that finish every call before returning.</summary>
    public sealed class Immediate : DeviceFence
    {
        public override void Record() { }
        public override void Wait() { }
    }
}
