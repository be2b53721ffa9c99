using System.Runtime.InteropServices;

namespace RawFlipFlop.Kernels.Devices;

/// <summary>Aligned native host allocations with ownership tracking; the base of host-memory devices.</summary>
public abstract class HostMemoryDevice : IDevice
{
    readonly HashSet<nint> _allocations = [];
    readonly HashSet<nint> _hostAllocations = [];
    readonly Lock _lock = new();

    public abstract string Name { get; }
    public abstract string Description { get; }
    public bool IsHostMemory => true;

    /// <summary>Called before every call that a device graph cannot hold (the emulator refuses them while it records one).</summary>
    protected virtual void BeforeHostCall(string operation) { }

    public unsafe Buf<T> Allocate<T>(long count) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        BeforeHostCall("an allocation");
        void* p = AllocateMemory((nuint)Math.Max(1, count) * (nuint)sizeof(T));
        lock (_lock) _allocations.Add((nint)p);
        return new Buf<T>((nint)p, count);
    }

    public unsafe void Free<T>(Buf<T> buffer) where T : unmanaged
    {
        BeforeHostCall("a free");
        lock (_lock)
            if (!_allocations.Remove(buffer.Address))
                throw new ArgumentException("buffer is not an allocation of this device (a slice, or freed already)");
        FreeMemory((void*)buffer.Address);
    }

    public void Upload<T>(ReadOnlySpan<T> source, Buf<T> destination) where T : unmanaged
    {
        BeforeHostCall("an upload");
        CheckLength(source.Length, destination.Length);
        source.CopyTo(destination.Span);
    }

    public void Download<T>(Buf<T> source, Span<T> destination) where T : unmanaged
    {
        BeforeHostCall("a download");
        CheckLength(destination.Length, source.Length);
        source.Span.CopyTo(destination);
    }

    public virtual void Copy<T>(Buf<T> source, Buf<T> destination) where T : unmanaged
    {
        CheckLength(source.Length, destination.Length);
        source.Span.CopyTo(destination.Span);
    }

    public virtual void Synchronize() => BeforeHostCall("a synchronisation");

    public unsafe HostBuf<T> AllocateHost<T>(long count) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        BeforeHostCall("a host allocation");
        void* p = AlignedZeroed((nuint)Math.Max(1, count) * (nuint)sizeof(T));
        lock (_lock) _hostAllocations.Add((nint)p);
        return new HostBuf<T>((nint)p, count);
    }

    public unsafe void FreeHost<T>(HostBuf<T> buffer) where T : unmanaged
    {
        BeforeHostCall("a host free");
        lock (_lock)
            if (!_hostAllocations.Remove(buffer.Address))
                throw new ArgumentException("host buffer is not an allocation of this device (a slice, or freed already)");
        NativeMemory.AlignedFree((void*)buffer.Address);
    }

    /// <summary>Copies at once: this device finishes every call before returning.</summary>
    public void UploadAsync<T>(HostBuf<T> source, Buf<T> destination) where T : unmanaged
    {
        BeforeHostCall("an upload");
        CheckLength(source.Length, destination.Length);
        source.Span.CopyTo(destination.Span);
    }

    /// <summary>Copies at once: this device finishes every call before returning.</summary>
    public void DownloadAsync<T>(Buf<T> source, HostBuf<T> destination) where T : unmanaged
    {
        BeforeHostCall("a download");
        CheckLength(destination.Length, source.Length);
        source.Span.CopyTo(destination.Span);
    }

    public DeviceFence CreateFence() => new DeviceFence.Immediate();

    /// <summary>Zeroed memory of at least <paramref name="bytes"/> bytes, 64-byte aligned (the emulator adds guard pages).</summary>
    protected virtual unsafe void* AllocateMemory(nuint bytes) => AlignedZeroed(bytes);

    static unsafe void* AlignedZeroed(nuint bytes)
    {
        void* p = NativeMemory.AlignedAlloc(bytes, 64);
        NativeMemory.Clear(p, bytes);
        return p;
    }

    protected virtual unsafe void FreeMemory(void* p) => NativeMemory.AlignedFree(p);

    static void CheckLength(long a, long b)
    {
        if (a != b) throw new ArgumentException($"copy of {a} elements into/from a buffer of {b}");
    }

    public unsafe void Dispose()
    {
        lock (_lock)
        {
            foreach (var p in _allocations) FreeMemory((void*)p);
            _allocations.Clear();
            foreach (var p in _hostAllocations) NativeMemory.AlignedFree((void*)p);
            _hostAllocations.Clear();
        }
        GC.SuppressFinalize(this);
    }
}

/// <summary>The CPU: host memory, ops in C# (<see cref="Cpu.CpuOps{T}"/>).</summary>
public sealed class CpuDevice : HostMemoryDevice
{
    public override string Name => "cpu";
    public override string Description => $"{Environment.ProcessorCount} cores, {System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated switch { true => "AVX-512", false => System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "AVX2" : "scalar" }}";
}
