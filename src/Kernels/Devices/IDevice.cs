namespace RawFlipFlop.Kernels.Devices;

/// <summary>
/// Memory of one device: allocation and copies. The CPU and the emulator use host memory; CUDA uses
/// device memory. Allocations are freed when the device is disposed or with <see cref="Free"/>.
/// </summary>
public interface IDevice : IDisposable
{
    /// <summary>Short name: cpu, cuda, emulator.</summary>
    string Name { get; }

    /// <summary>A human description (processor or GPU name).</summary>
    string Description { get; }

    /// <summary>True when buffers are host memory (<see cref="Buf{T}.Span"/> is valid).</summary>
    bool IsHostMemory { get; }

    /// <summary>Allocates <paramref name="count"/> zeroed elements, 64-byte aligned.</summary>
    Buf<T> Allocate<T>(long count) where T : unmanaged;

    void Free<T>(Buf<T> buffer) where T : unmanaged;

    void Upload<T>(ReadOnlySpan<T> source, Buf<T> destination) where T : unmanaged;

    void Download<T>(Buf<T> source, Span<T> destination) where T : unmanaged;

    void Copy<T>(Buf<T> source, Buf<T> destination) where T : unmanaged;

    /// <summary>Waits until all queued work is done.</summary>
    void Synchronize();

    /// <summary>Host memory for the asynchronous copies (page-locked on a GPU), zeroed.</summary>
    HostBuf<T> AllocateHost<T>(long count) where T : unmanaged;

    void FreeHost<T>(HostBuf<T> buffer) where T : unmanaged;

    /// <summary>Queues a copy from host memory: <paramref name="source"/> may change only after a fence recorded later has passed.</summary>
    void UploadAsync<T>(HostBuf<T> source, Buf<T> destination) where T : unmanaged;

    /// <summary>Queues a copy into host memory: <paramref name="destination"/> holds it once a fence recorded later has passed.</summary>
    void DownloadAsync<T>(Buf<T> source, HostBuf<T> destination) where T : unmanaged;

    /// <summary>A fence on this device's queue.</summary>
    DeviceFence CreateFence();
}

public static class DeviceExtensions
{
    public static T[] ToArray<T>(this IDevice device, Buf<T> buffer) where T : unmanaged
    {
        var result = new T[buffer.Length];
        device.Download(buffer, result);
        return result;
    }

    public static Buf<T> AllocateFrom<T>(this IDevice device, ReadOnlySpan<T> values) where T : unmanaged
    {
        var buffer = device.Allocate<T>(values.Length);
        device.Upload(values, buffer);
        return buffer;
    }
}
