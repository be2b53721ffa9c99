using System.Diagnostics;

namespace RawFlipFlop.Kernels.Devices;

/// <summary>Time spent in one kernel over a profiled stretch: its launches and their summed duration.</summary>
public readonly record struct KernelTime(string Kernel, int Launches, double Milliseconds);

/// <summary>Marks on a device's queue whose distance is the time the device spent between them (CUDA events).</summary>
public interface IEventClock
{
    /// <summary>Queues a mark after everything queued so far.</summary>
    nint Mark();

    /// <summary>Milliseconds between two marks once both have passed (waits for the later one).</summary>
    double Milliseconds(nint start, nint end);

    /// <summary>Releases a mark.</summary>
    void Release(nint mark);
}

/// <summary>
/// A profiling decorator over a kernel device: every launch is bracketed by two marks of the device's event clock
/// (CUDA events on a GPU, so the launches stay asynchronous and the times are the GPU's own), or, on a device without
/// one (the emulator), timed by the wall clock with a synchronisation after the launch. <see cref="Report"/> sums the
/// times per kernel. Everything else passes through.
/// </summary>
public sealed class KernelTimingDevice(IKernelDevice inner) : IKernelDevice
{
    readonly List<(string Kernel, nint Start, nint End, double WallMs)> _launches = [];
    readonly IEventClock? _clock = inner as IEventClock;

    public IKernelDevice Inner { get; } = inner;

    public string Name => Inner.Name;
    public string Description => Inner.Description;
    public bool IsHostMemory => Inner.IsHostMemory;
    public Buf<T> Allocate<T>(long count) where T : unmanaged => Inner.Allocate<T>(count);
    public void Free<T>(Buf<T> buffer) where T : unmanaged => Inner.Free(buffer);
    public void Upload<T>(ReadOnlySpan<T> source, Buf<T> destination) where T : unmanaged => Inner.Upload(source, destination);
    public void Download<T>(Buf<T> source, Span<T> destination) where T : unmanaged => Inner.Download(source, destination);
    public void Copy<T>(Buf<T> source, Buf<T> destination) where T : unmanaged => Inner.Copy(source, destination);
    public void Synchronize() => Inner.Synchronize();
    public HostBuf<T> AllocateHost<T>(long count) where T : unmanaged => Inner.AllocateHost<T>(count);
    public void FreeHost<T>(HostBuf<T> buffer) where T : unmanaged => Inner.FreeHost(buffer);
    public void UploadAsync<T>(HostBuf<T> source, Buf<T> destination) where T : unmanaged => Inner.UploadAsync(source, destination);
    public void DownloadAsync<T>(Buf<T> source, HostBuf<T> destination) where T : unmanaged => Inner.DownloadAsync(source, destination);
    public DeviceFence CreateFence() => Inner.CreateFence();

    public int CooperativeBlocks(string kernel, Dim3 block, int sharedBytes) => Inner.CooperativeBlocks(kernel, block, sharedBytes);

    public void Launch(string kernel, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args) =>
        Timed(kernel, false, grid, block, sharedBytes, args);

    public void LaunchCooperative(string kernel, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args) =>
        Timed(kernel, true, grid, block, sharedBytes, args);

    void Timed(string kernel, bool cooperative, Dim3 grid, Dim3 block, int sharedBytes, ReadOnlySpan<KernelArg> args)
    {
        nint start = _clock?.Mark() ?? 0;
        long begin = Stopwatch.GetTimestamp();
        if (cooperative) Inner.LaunchCooperative(kernel, grid, block, sharedBytes, args);
        else Inner.Launch(kernel, grid, block, sharedBytes, args);
        if (_clock != null)
        {
            _launches.Add((kernel, start, _clock.Mark(), 0));
            return;
        }
        Inner.Synchronize();
        _launches.Add((kernel, 0, 0, Stopwatch.GetElapsedTime(begin).TotalMilliseconds));
    }

    /// <summary>Per kernel, the launches and their total time since the last <see cref="Reset"/>, most expensive first (waits for the device).</summary>
    public IReadOnlyList<KernelTime> Report()
    {
        var totals = new Dictionary<string, (int Launches, double Ms)>();
        foreach (var (kernel, start, end, wall) in _launches)
        {
            double ms = _clock != null ? _clock.Milliseconds(start, end) : wall;
            totals.TryGetValue(kernel, out var t);
            totals[kernel] = (t.Launches + 1, t.Ms + ms);
        }
        return [.. totals.Select(kv => new KernelTime(kv.Key, kv.Value.Launches, kv.Value.Ms)).OrderByDescending(k => k.Milliseconds)];
    }

    /// <summary>Forgets the launches timed so far.</summary>
    public void Reset()
    {
        if (_clock != null)
            foreach (var (_, start, end, _) in _launches)
            {
                _clock.Release(start);
                _clock.Release(end);
            }
        _launches.Clear();
    }

    public void Dispose() => Reset();
}
