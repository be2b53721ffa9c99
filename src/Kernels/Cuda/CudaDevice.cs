using System.Runtime.CompilerServices;
using System.Text;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Kernels.Cuda;

/// <summary>
/// An NVIDIA GPU through the CUDA driver API: the device's primary context, one stream for all work, device
/// memory, and kernels.cu compiled by NVRTC for the device's exact architecture (a cubin; PTX for the driver when
/// NVRTC does not know the architecture or the driver rejects the cubin), cached on disk by
/// <see cref="KernelCompiler"/>. The NVRTC is the newest the driver supports, the next one when the driver rejects
/// its code (<see cref="NvrtcSelection"/>, <see cref="ModuleFallback"/>).
/// Launches and device-to-device copies are queued on the stream; uploads, downloads and
/// <see cref="Synchronize"/> wait for it. Any thread may use the device: every call that needs the context makes
/// it current on the calling thread first.
/// </summary>
public sealed unsafe partial class CudaDevice : IGraphDevice, IEventClock
{
    readonly GraphRecorder _recorder = new();
    readonly HashSet<nint> _hostAllocations = [];
    readonly nint _context;
    readonly nint _stream;
    readonly nint _module;
    readonly Dictionary<string, nint> _functions = new(StringComparer.Ordinal);
    readonly Dictionary<nint, int> _dynamicSharedSet = [];
    readonly HashSet<ulong> _allocations = [];
    readonly Lock _lock = new();
    bool _disposed;

    /// <summary>
    /// Opens GPU <paramref name="ordinal"/> and loads <paramref name="source"/> (kernels.cu by default).
    /// <paramref name="synchronizeEachLaunch"/>: wait after every launch so that a failing kernel is named (slow).
    /// </summary>
    public CudaDevice(int ordinal = 0, KernelSource? source = null, bool synchronizeEachLaunch = false)
    {
        if (!NativeLibraries.TryCuda(out string reason)) throw new InvalidOperationException(reason);
        Source = source ?? KernelSource.Default;
        SynchronizeEachLaunch = synchronizeEachLaunch;
        CudaDriver.Check(CudaDriver.cuInit(0), "cuInit");
        CudaDriver.Check(CudaDriver.cuDeviceGetCount(out int count), "cuDeviceGetCount");
        if (ordinal < 0 || ordinal >= count) throw new ArgumentOutOfRangeException(nameof(ordinal), $"GPU {ordinal} requested, {count} present");
        CudaDriver.Check(CudaDriver.cuDeviceGet(out int device, ordinal), "cuDeviceGet");
        Ordinal = device;
        byte* name = stackalloc byte[256];
        CudaDriver.Check(CudaDriver.cuDeviceGetName(name, 256, device), "cuDeviceGetName");
        DeviceName = new string((sbyte*)name).Trim();
        ComputeCapability = (Attribute(CudaDeviceAttribute.ComputeCapabilityMajor), Attribute(CudaDeviceAttribute.ComputeCapabilityMinor));
        Multiprocessors = Attribute(CudaDeviceAttribute.MultiprocessorCount);
        CudaDriver.Check(CudaDriver.cuDeviceTotalMem(out nuint total, device), "cuDeviceTotalMem");
        TotalMemory = (long)total;
        CudaDriver.Check(CudaDriver.cuDriverGetVersion(out int driver), "cuDriverGetVersion");
        DriverVersion = NvrtcSelection.DriverVersion(driver);

        CudaDriver.Check(CudaDriver.cuDevicePrimaryCtxRetain(out _context, device), "cuDevicePrimaryCtxRetain");
        try
        {
            MakeCurrent();
            CudaDriver.Check(CudaDriver.cuStreamCreate(out _stream, 0), "cuStreamCreate");
            if (!Nvrtc.IsAvailable(out string nvrtcReason)) throw new InvalidOperationException($"CUDA kernels need NVRTC: {nvrtcReason}");
            var nvrtcs = Nvrtc.Found;
            var (module, handle, nvrtc) = ModuleFallback.LoadFirst(
                $"loading {Source.Name} on GPU {ordinal} ({DeviceName}, sm_{ComputeCapability.Major}{ComputeCapability.Minor}, driver for CUDA {DriverVersion})",
                ModuleFallback.Attempts(nvrtcs.Order, ComputeCapability.Major, ComputeCapability.Minor, (library, architecture) =>
                {
                    var compiled = KernelCompiler.Compile(Source, architecture, nvrtc: library);
                    return (compiled, LoadModule(compiled, library), library);
                }),
                nvrtcs.NotUsed);
            (Module, _module, NvrtcLibrary, Architecture) = (module, handle, nvrtc, module.Architecture);
            foreach (var entry in Source.Table)
            {
                CudaDriver.Check(CudaDriver.cuModuleGetFunction(out nint f, _module, entry.Name), $"cuModuleGetFunction({entry.Name}) in {Source.Name}");
                _functions[entry.Name] = f;
            }
        }
        catch
        {
            if (_module != 0) CudaDriver.cuModuleUnload(_module);
            if (_stream != 0) CudaDriver.cuStreamDestroy(_stream);
            CudaDriver.cuDevicePrimaryCtxRelease(device);
            throw;
        }
    }

    /// <summary>Opens a GPU, or says why there is none (no driver, no device, no NVRTC, a failure).</summary>
    public static bool TryCreate(out CudaDevice? device, out string reason, int ordinal = 0)
    {
        device = null;
        if (!IsAvailable(out reason)) return false;
        try
        {
            device = new CudaDevice(ordinal);
            return true;
        }
        catch (Exception e) when (e is CudaException or NvrtcException or InvalidOperationException or ArgumentException or DllNotFoundException
                                       or EntryPointNotFoundException or IOException or UnauthorizedAccessException)
        {
            NativeLibraries.TryCuda(out string driver);
            reason = e is EntryPointNotFoundException ? $"{driver} is not a usable CUDA driver: {e.Message}" : e.Message;
            return false;
        }
    }

    /// <summary>Whether a CUDA driver with at least one device is present; otherwise why not.</summary>
    public static bool IsAvailable(out string reason)
    {
        if (!NativeLibraries.TryCuda(out string driver))
        {
            reason = driver;
            return false;
        }
        try
        {
            int rc = CudaDriver.cuInit(0);
            if (rc == CudaDriver.CUDA_ERROR_NO_DEVICE) { reason = $"no CUDA device (cuInit of {driver}: CUDA_ERROR_NO_DEVICE)"; return false; }
            CudaDriver.Check(rc, $"cuInit ({driver})");
            CudaDriver.Check(CudaDriver.cuDeviceGetCount(out int count), $"cuDeviceGetCount ({driver})");
            if (count == 0) { reason = $"no CUDA device ({driver} counts none)"; return false; }
        }
        catch (CudaException e)
        {
            reason = e.Message;
            return false;
        }
        catch (EntryPointNotFoundException e)
        {
            reason = $"{driver} is not a usable CUDA driver: {e.Message}";
            return false;
        }
        reason = "";
        return true;
    }

    public KernelSource Source { get; }
    public int Ordinal { get; }
    public string DeviceName { get; }
    public (int Major, int Minor) ComputeCapability { get; }
    public int Multiprocessors { get; }
    public long TotalMemory { get; }
    public Version DriverVersion { get; }

    /// <summary>What kernels.cu was compiled for: sm_XY (cubin) or compute_XY (PTX).</summary>
    public string Architecture { get; } = "";

    /// <summary>The loaded module (its NVRTC log, whether it came from the cache).</summary>
    public CompiledModule Module { get; } = null!;

    /// <summary>The NVRTC that compiled <see cref="Module"/>.</summary>
    public NvrtcLibrary NvrtcLibrary { get; } = null!;

    public bool SynchronizeEachLaunch { get; set; }

    public string Name => "cuda";
    public string Description =>
        $"{DeviceName} (sm_{ComputeCapability.Major}{ComputeCapability.Minor}, {Multiprocessors} SMs, {TotalMemory / (1L << 30)} GiB, driver {DriverVersion}, kernels {Architecture} by NVRTC {NvrtcLibrary.Version})";
    public bool IsHostMemory => false;

    public int Attribute(CudaDeviceAttribute attribute)
    {
        CudaDriver.Check(CudaDriver.cuDeviceGetAttribute(out int value, attribute, Ordinal), $"cuDeviceGetAttribute({attribute})");
        return value;
    }

    /// <summary>A function attribute of a loaded kernel (registers, local memory...).</summary>
    public int FunctionAttribute(string kernel, CudaFunctionAttribute attribute)
    {
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuFuncGetAttribute(out int value, attribute, Function(kernel)), $"cuFuncGetAttribute({kernel}, {attribute})");
        return value;
    }

    nint LoadModule(CompiledModule module, NvrtcLibrary nvrtc)
    {
        const int logSize = 1 << 16;
        var errorLog = new byte[logSize];
        var infoLog = new byte[logSize];
        var image = module.IsCubin ? module.Image : [.. module.Image, 0];
        fixed (byte* img = image, err = errorLog, info = infoLog)
        {
            int* options = stackalloc int[] { CudaDriver.CU_JIT_ERROR_LOG_BUFFER, CudaDriver.CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                CudaDriver.CU_JIT_INFO_LOG_BUFFER, CudaDriver.CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES };
            void** values = stackalloc void*[] { err, (void*)(nint)logSize, info, (void*)(nint)logSize };
            int rc = CudaDriver.cuModuleLoadDataEx(out nint handle, img, 4, options, values);
            if (rc != CudaDriver.CUDA_SUCCESS)
                throw new CudaException($"cuModuleLoadDataEx ({Source.Name}, {module.Architecture} {(module.IsCubin ? "cubin" : "PTX")} " +
                                        $"{(module.FromCache ? "from the kernel cache" : "just compiled")} by {nvrtc})", rc, CString(errorLog) + CString(infoLog));
            return handle;
        }
    }

    static string CString(byte[] bytes)
    {
        int n = Array.IndexOf(bytes, (byte)0);
        return Encoding.UTF8.GetString(bytes, 0, n < 0 ? bytes.Length : n);
    }

    /// <summary>
    /// Makes the context current on the calling thread, every time: the device may be used from any thread, and
    /// remembering what a thread had current would go stale when other code changes it. cuCtxSetCurrent is cheap
    /// (it sets a thread-local); push/pop would also restore another context, which nothing here uses.
    /// </summary>
    void MakeCurrent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CudaDriver.Check(CudaDriver.cuCtxSetCurrent(_context), $"cuCtxSetCurrent (GPU {Ordinal})");
    }

    nint Function(string kernel) =>
        _functions.TryGetValue(kernel, out nint f) ? f : throw new ArgumentException($"no kernel named '{kernel}' in the kernel table of {Source.Name}");

    public Buf<T> Allocate<T>(long count) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        _recorder.RefuseHostCall("an allocation");
        MakeCurrent();
        nuint bytes = (nuint)Math.Max(1, count) * (nuint)Unsafe.SizeOf<T>();
        CudaDriver.Check(CudaDriver.cuMemAlloc(out ulong p, bytes), $"cuMemAlloc({bytes} bytes)");
        CudaDriver.Check(CudaDriver.cuMemsetD8Async(p, 0, bytes, _stream), "cuMemsetD8Async");
        lock (_lock) _allocations.Add(p);
        return new Buf<T>((nint)p, count);
    }

    public void Free<T>(Buf<T> buffer) where T : unmanaged
    {
        _recorder.RefuseHostCall("a free");
        lock (_lock)
            if (!_allocations.Remove((ulong)buffer.Address))
                throw new ArgumentException("buffer is not an allocation of this device (a slice, or freed already)");
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuStreamSynchronize(_stream), "cuStreamSynchronize");
        CudaDriver.Check(CudaDriver.cuMemFree((ulong)buffer.Address), "cuMemFree");
    }

    public void Upload<T>(ReadOnlySpan<T> source, Buf<T> destination) where T : unmanaged
    {
        CheckLength(source.Length, destination.Length);
        _recorder.RefuseHostCall("an upload");
        if (source.IsEmpty) return;
        MakeCurrent();
        fixed (T* p = source)
        {
            CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync((ulong)destination.Address, p, (nuint)destination.Bytes, _stream), "cuMemcpyHtoDAsync");
            CudaDriver.Check(CudaDriver.cuStreamSynchronize(_stream), "cuStreamSynchronize (upload)");
        }
    }

    public void Download<T>(Buf<T> source, Span<T> destination) where T : unmanaged
    {
        CheckLength(destination.Length, source.Length);
        _recorder.RefuseHostCall("a download");
        if (destination.IsEmpty) return;
        MakeCurrent();
        fixed (T* p = destination)
        {
            CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync(p, (ulong)source.Address, (nuint)source.Bytes, _stream), "cuMemcpyDtoHAsync");
            CudaDriver.Check(CudaDriver.cuStreamSynchronize(_stream), "cuStreamSynchronize (download)");
        }
    }

    public void Copy<T>(Buf<T> source, Buf<T> destination) where T : unmanaged
    {
        CheckLength(source.Length, destination.Length);
        if (source.IsEmpty) return;
        var node = _recorder.Active ? GraphNode.Copy(source.Address, destination.Address, source.Bytes) : null;
        if (_recorder.Updating)
        {
            _recorder.Match(node!);
            return;
        }
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuMemcpyDtoDAsync((ulong)destination.Address, (ulong)source.Address, (nuint)source.Bytes, _stream), "cuMemcpyDtoDAsync");
        if (node != null) _recorder.Capture(node);
    }

    /// <summary>A CUDA event recorded on this device's stream (for <see cref="KernelTimingDevice"/>).</summary>
    public nint Mark()
    {
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuEventCreate(out nint evt, 0), "cuEventCreate");
        CudaDriver.Check(CudaDriver.cuEventRecord(evt, _stream), "cuEventRecord");
        return evt;
    }

    /// <summary>Milliseconds between two recorded events (waits for the later one).</summary>
    public double Milliseconds(nint start, nint end)
    {
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuEventSynchronize(end), "cuEventSynchronize");
        CudaDriver.Check(CudaDriver.cuEventElapsedTime(out float ms, start, end), "cuEventElapsedTime");
        return ms;
    }

    public void Release(nint mark)
    {
        MakeCurrent();
        CudaDriver.cuEventDestroy(mark);
    }

    public void Synchronize()
    {
        _recorder.RefuseHostCall("a synchronisation");
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuStreamSynchronize(_stream), "cuStreamSynchronize");
    }

    public void Launch(string kernel, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args) =>
        Run(kernel, grid, block, sharedBytes, cooperative: false, args);

    public void LaunchCooperative(string kernel, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args)
    {
        int resident = CooperativeBlocks(kernel, block, sharedBytes);
        if ((long)grid.Count > resident)
            throw new InvalidOperationException(
                $"cooperative launch of {kernel}: grid {grid} has {grid.Count} blocks, but {DeviceName} keeps at most {resident} resident " +
                $"({block.Count} threads and {sharedBytes} bytes of shared memory a block, {Multiprocessors} SMs" +
                (Attribute(CudaDeviceAttribute.CooperativeLaunch) == 0 ? ", no cooperative launch support)" : ")"));
        Run(kernel, grid, block, sharedBytes, cooperative: true, args);
    }

    /// <summary>cuOccupancyMaxActiveBlocksPerMultiprocessor x SMs (0 without cooperative launch support or when a block does not fit).</summary>
    public int CooperativeBlocks(string kernel, Dim3 block, int sharedBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sharedBytes);
        MakeCurrent();
        nint f = Function(kernel);
        if (Attribute(CudaDeviceAttribute.CooperativeLaunch) == 0 || block.Count > 1024 ||
            sharedBytes > Attribute(CudaDeviceAttribute.MaxSharedMemoryPerBlockOptin))
            return 0;
        OptInSharedBytes(f, kernel, sharedBytes);
        CudaDriver.Check(CudaDriver.cuOccupancyMaxActiveBlocksPerMultiprocessor(out int perSm, f, (int)block.Count, (nuint)sharedBytes),
            $"cuOccupancyMaxActiveBlocksPerMultiprocessor({kernel}, {block.Count} threads, {sharedBytes} bytes shared)");
        return perSm * Multiprocessors;
    }

    /// <summary>Lets <paramref name="f"/> use more than the default 48 KiB of dynamic shared memory (once per size).</summary>
    void OptInSharedBytes(nint f, string kernel, int sharedBytes)
    {
        if (sharedBytes <= IKernelDevice.DefaultDynamicSharedBytes) return;
        lock (_lock)
            if (!_dynamicSharedSet.TryGetValue(f, out int set) || set < sharedBytes)
            {
                CudaDriver.Check(CudaDriver.cuFuncSetAttribute(f, CudaFunctionAttribute.MaxDynamicSharedSizeBytes, sharedBytes),
                    $"cuFuncSetAttribute({kernel}, MaxDynamicSharedSizeBytes, {sharedBytes})");
                _dynamicSharedSet[f] = sharedBytes;
            }
    }

    void Run(string kernel, Dim3 grid, Dim3 block, int sharedBytes, bool cooperative, ReadOnlySpan<KernelArg> args)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sharedBytes);
        if (_recorder.Updating)
        {
            Function(kernel);
            _recorder.Match(GraphNode.Launch(kernel, grid, block, sharedBytes, cooperative, args));
            return;
        }
        MakeCurrent();
        nint f = Function(kernel);
        OptInSharedBytes(f, kernel, sharedBytes);
        // kernelParams[i] points at argument i's value; 4-byte values sit in the low bytes (little-endian).
        int n = args.Length;
        ulong* values = stackalloc ulong[Math.Max(1, n)];
        void** pointers = stackalloc void*[Math.Max(1, n)];
        for (int i = 0; i < n; i++)
        {
            values[i] = args[i].Bits;
            pointers[i] = &values[i];
        }
        int rc = cooperative
            ? CudaDriver.cuLaunchCooperativeKernel(f, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, (uint)sharedBytes, _stream, pointers)
            : CudaDriver.cuLaunchKernel(f, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z, (uint)sharedBytes, _stream, pointers, null);
        string Call() => $"{(cooperative ? "cuLaunchCooperativeKernel" : "cuLaunchKernel")}({kernel}, grid {grid}, block {block}, {sharedBytes} bytes shared)";
        if (_recorder.Capturing)
        {
            if (rc != CudaDriver.CUDA_SUCCESS)
                throw new GraphUnsupportedException($"{Call()} cannot be captured into a CUDA graph: {CudaDriver.ErrorName(rc)}", new CudaException(Call(), rc));
            var node = GraphNode.Launch(kernel, grid, block, sharedBytes, cooperative, args);
            node.Handle = CapturedNode(kernel);
            _recorder.Capture(node);
            return;
        }
        if (rc != CudaDriver.CUDA_SUCCESS) throw new CudaException(Call(), rc);
        if (SynchronizeEachLaunch)
        {
            rc = CudaDriver.cuStreamSynchronize(_stream);
            if (rc != CudaDriver.CUDA_SUCCESS) throw new CudaException($"kernel {kernel} (grid {grid}, block {block})", rc);
        }
    }

    /// <summary>GPU time of <paramref name="work"/> (the launches it queues) in milliseconds, measured with events.</summary>
    public float Time(Action work)
    {
        MakeCurrent();
        nint start = 0, end = 0;
        try
        {
            CudaDriver.Check(CudaDriver.cuEventCreate(out start, 0), "cuEventCreate");
            CudaDriver.Check(CudaDriver.cuEventCreate(out end, 0), "cuEventCreate");
            CudaDriver.Check(CudaDriver.cuEventRecord(start, _stream), "cuEventRecord");
            work();
            MakeCurrent();
            CudaDriver.Check(CudaDriver.cuEventRecord(end, _stream), "cuEventRecord");
            CudaDriver.Check(CudaDriver.cuEventSynchronize(end), "cuEventSynchronize");
            CudaDriver.Check(CudaDriver.cuEventElapsedTime(out float ms, start, end), "cuEventElapsedTime");
            return ms;
        }
        finally
        {
            // work() may have failed with another device's context current; the events belong to this one.
            CudaDriver.cuCtxSetCurrent(_context);
            if (start != 0) CudaDriver.cuEventDestroy(start);
            if (end != 0) CudaDriver.cuEventDestroy(end);
        }
    }

    static void CheckLength(long a, long b)
    {
        if (a != b) throw new ArgumentException($"copy of {a} elements into/from a buffer of {b}");
    }

    /// <summary>Frees everything; best effort (errors are ignored), so it never hides the failure that led to it.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        CudaDriver.cuCtxSetCurrent(_context);
        CudaDriver.cuStreamSynchronize(_stream);
        lock (_lock)
        {
            foreach (var p in _allocations) CudaDriver.cuMemFree(p);
            _allocations.Clear();
        }
        FreeHostAllocations();
        CudaDriver.cuModuleUnload(_module);
        CudaDriver.cuStreamDestroy(_stream);
        CudaDriver.cuDevicePrimaryCtxRelease(Ordinal);
    }
}
