using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cuda;

/// <summary>
/// CUDA graphs and page-locked staging. A pass is captured with stream capture (cuStreamBeginCapture ...
/// cuStreamEndCapture, cuGraphInstantiateWithFlags); the node of every captured launch is read back with
/// cuStreamGetCaptureInfo_v2, so that a later matching pass can rewrite exactly the launches whose arguments changed
/// (cuGraphExecKernelNodeSetParams) before cuGraphLaunch. Staging memory is cuMemHostAlloc'd, so its copies are
/// asynchronous; fences are events without timing.
/// </summary>
public sealed unsafe partial class CudaDevice
{
    bool _streamCapturing;

    sealed class CudaGraph(CudaDevice owner) : DeviceGraph
    {
        public CudaDevice Owner { get; } = owner;
        public nint Graph { get; set; }
        public nint Exec { get; set; }

        public override void Dispose()
        {
            if (Owner._disposed || (Graph == 0 && Exec == 0)) return;
            CudaDriver.cuCtxSetCurrent(Owner._context);
            if (Exec != 0) CudaDriver.cuGraphExecDestroy(Exec);
            if (Graph != 0) CudaDriver.cuGraphDestroy(Graph);
            (Graph, Exec) = (0, 0);
        }
    }

    sealed class CudaFence : DeviceFence
    {
        readonly CudaDevice _owner;
        readonly nint _event;

        public CudaFence(CudaDevice owner)
        {
            _owner = owner;
            owner.MakeCurrent();
            CudaDriver.Check(CudaDriver.cuEventCreate(out _event, CudaDriver.CU_EVENT_DISABLE_TIMING), "cuEventCreate (fence)");
        }

        public override void Record()
        {
            _owner.MakeCurrent();
            CudaDriver.Check(CudaDriver.cuEventRecord(_event, _owner._stream), "cuEventRecord (fence)");
        }

        public override void Wait()
        {
            _owner.MakeCurrent();
            CudaDriver.Check(CudaDriver.cuEventSynchronize(_event), "cuEventSynchronize (fence)");
        }

        public override void Dispose()
        {
            if (!_owner._disposed)
            {
                CudaDriver.cuCtxSetCurrent(_owner._context);
                CudaDriver.cuEventDestroy(_event);
            }
            base.Dispose();
        }
    }

    static readonly string[] GraphEntryPoints =
    [
        "cuStreamBeginCapture_v2", "cuStreamEndCapture", "cuStreamGetCaptureInfo_v2", "cuGraphInstantiateWithFlags", "cuGraphLaunch",
        "cuGraphExecKernelNodeSetParams", "cuGraphExecDestroy", "cuGraphDestroy",
    ];

    public void BeginCapture()
    {
        _recorder.RefuseHostCall("a capture");
        if (NativeLibraries.MissingCudaExports(GraphEntryPoints) is { Count: > 0 } missing)
            throw new GraphUnsupportedException($"the CUDA driver (for CUDA {DriverVersion}) lacks {string.Join(", ", missing)}");
        MakeCurrent();
        int rc = CudaDriver.cuStreamBeginCapture(_stream, CudaDriver.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
        if (rc != CudaDriver.CUDA_SUCCESS)
            throw new GraphUnsupportedException($"cuStreamBeginCapture failed: {CudaDriver.ErrorName(rc)}", new CudaException("cuStreamBeginCapture", rc));
        _streamCapturing = true;
        _recorder.BeginCapture(new CudaGraph(this));
    }

    /// <summary>The node the launch just captured added: the one dependency of whatever is captured next.</summary>
    nint CapturedNode(string kernel)
    {
        int rc = CudaDriver.cuStreamGetCaptureInfo_v2(_stream, out int status, out _, out _, out nint* dependencies, out nuint count);
        if (rc != CudaDriver.CUDA_SUCCESS || status != CudaDriver.CU_STREAM_CAPTURE_STATUS_ACTIVE || count != 1)
            throw new GraphUnsupportedException(
                $"after the launch of {kernel}, cuStreamGetCaptureInfo_v2 gave {(rc != CudaDriver.CUDA_SUCCESS ? CudaDriver.ErrorName(rc) : $"status {status} and {count} dependencies")}, not the one captured node");
        return dependencies[0];
    }

    public DeviceGraph EndCapture()
    {
        var graph = (CudaGraph)_recorder.EndCapture();
        MakeCurrent();
        _streamCapturing = false;
        int rc = CudaDriver.cuStreamEndCapture(_stream, out nint handle);
        if (rc != CudaDriver.CUDA_SUCCESS || handle == 0)
        {
            if (handle != 0) CudaDriver.cuGraphDestroy(handle);
            throw new GraphUnsupportedException($"cuStreamEndCapture failed: {CudaDriver.ErrorName(rc)}", new CudaException("cuStreamEndCapture", rc));
        }
        graph.Graph = handle;
        rc = CudaDriver.cuGraphInstantiateWithFlags(out nint exec, handle, 0);
        if (rc != CudaDriver.CUDA_SUCCESS)
        {
            graph.Dispose();
            throw new GraphUnsupportedException($"cuGraphInstantiateWithFlags failed on a graph of {graph.Count} nodes: {CudaDriver.ErrorName(rc)}",
                new CudaException("cuGraphInstantiateWithFlags", rc));
        }
        graph.Exec = exec;
        return graph;
    }

    public void BeginUpdate(DeviceGraph graph) => _recorder.BeginUpdate(Own(graph));

    public bool EndUpdate(out int changedNodes, out string difference)
    {
        var changes = _recorder.EndUpdate(out difference, out var graph);
        changedNodes = changes?.Count ?? 0;
        if (changes == null) return false;
        if (changes.Count == 0) return true;
        MakeCurrent();
        var exec = ((CudaGraph)graph).Exec;
        int most = changes.Max(c => c.Args.Length);
        // cuGraphExecKernelNodeSetParams copies the values before it returns: one scratch array serves every node.
        ulong* values = stackalloc ulong[Math.Max(1, most)];
        void** pointers = stackalloc void*[Math.Max(1, most)];
        foreach (var (node, args) in changes)
        {
            int n = args.Length;
            for (int i = 0; i < n; i++)
            {
                values[i] = args[i].Bits;
                pointers[i] = &values[i];
            }
            var parameters = new KernelNodeParams
            {
                Function = Function(node.Kernel!),
                GridX = node.Grid.X, GridY = node.Grid.Y, GridZ = node.Grid.Z,
                BlockX = node.Block.X, BlockY = node.Block.Y, BlockZ = node.Block.Z,
                SharedBytes = (uint)node.SharedBytes, KernelParams = pointers,
            };
            int rc = CudaDriver.cuGraphExecKernelNodeSetParams(exec, node.Handle, &parameters);
            if (rc != CudaDriver.CUDA_SUCCESS)
                throw new GraphUnsupportedException($"cuGraphExecKernelNodeSetParams({node.Kernel}) failed: {CudaDriver.ErrorName(rc)}",
                    new CudaException($"cuGraphExecKernelNodeSetParams({node.Kernel})", rc));
            node.Args = args;
        }
        return true;
    }

    CudaGraph Own(DeviceGraph graph) =>
        graph is CudaGraph own && own.Owner == this ? own : throw new ArgumentException("the graph was not captured by this GPU");

    public void AbortGraph()
    {
        var captured = _recorder.Abort();
        if (_streamCapturing)
        {
            _streamCapturing = false;
            MakeCurrent();
            CudaDriver.cuStreamEndCapture(_stream, out nint handle);
            if (handle != 0) CudaDriver.cuGraphDestroy(handle);
        }
        captured?.Dispose();
    }

    public void LaunchGraph(DeviceGraph graph)
    {
        _recorder.RefuseHostCall("a graph launch");
        var own = (CudaGraph)graph;
        if (own.Owner != this || own.Exec == 0) throw new ArgumentException("the graph was not captured by this GPU, or was released");
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuGraphLaunch(own.Exec, _stream), $"cuGraphLaunch ({own.Count} nodes)");
        if (SynchronizeEachLaunch) CudaDriver.Check(CudaDriver.cuStreamSynchronize(_stream), $"graph of {own.Count} nodes");
    }

    // ---- page-locked staging and fences ----

    public HostBuf<T> AllocateHost<T>(long count) where T : unmanaged
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        _recorder.RefuseHostCall("a host allocation");
        MakeCurrent();
        nuint bytes = (nuint)Math.Max(1, count) * (nuint)sizeof(T);
        CudaDriver.Check(CudaDriver.cuMemHostAlloc(out nint p, bytes, 0), $"cuMemHostAlloc({bytes} bytes)");
        System.Runtime.InteropServices.NativeMemory.Clear((void*)p, bytes);
        lock (_lock) _hostAllocations.Add(p);
        return new HostBuf<T>(p, count);
    }

    public void FreeHost<T>(HostBuf<T> buffer) where T : unmanaged
    {
        _recorder.RefuseHostCall("a host free");
        lock (_lock)
            if (!_hostAllocations.Remove(buffer.Address))
                throw new ArgumentException("host buffer is not an allocation of this device (a slice, or freed already)");
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuStreamSynchronize(_stream), "cuStreamSynchronize");  // no copy may still use it
        CudaDriver.Check(CudaDriver.cuMemFreeHost(buffer.Address), "cuMemFreeHost");
    }

    public void UploadAsync<T>(HostBuf<T> source, Buf<T> destination) where T : unmanaged
    {
        CheckLength(source.Length, destination.Length);
        _recorder.RefuseHostCall("an upload");
        if (source.Length == 0) return;
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuMemcpyHtoDAsync((ulong)destination.Address, (void*)source.Address, (nuint)destination.Bytes, _stream), "cuMemcpyHtoDAsync (staged)");
    }

    public void DownloadAsync<T>(Buf<T> source, HostBuf<T> destination) where T : unmanaged
    {
        CheckLength(destination.Length, source.Length);
        _recorder.RefuseHostCall("a download");
        if (source.IsEmpty) return;
        MakeCurrent();
        CudaDriver.Check(CudaDriver.cuMemcpyDtoHAsync((void*)destination.Address, (ulong)source.Address, (nuint)source.Bytes, _stream), "cuMemcpyDtoHAsync (staged)");
    }

    public DeviceFence CreateFence() => new CudaFence(this);

    void FreeHostAllocations()
    {
        lock (_lock)
        {
            foreach (var p in _hostAllocations) CudaDriver.cuMemFreeHost(p);
            _hostAllocations.Clear();
        }
    }
}
