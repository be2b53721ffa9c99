using System.Globalization;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Kernels.Emulator;

/// <summary>
/// How the emulator runs kernels. <see cref="ShuffleSeed"/>: run the threads of a block in a random order after
/// every barrier, and the blocks in a random order (exposes missing barriers). <see cref="Threads"/>: worker
/// threads that run blocks (0: the core count, at most 8; a cooperative launch takes one per block).
/// <see cref="StackKib"/>: stack of each emulated thread.
/// Defaults come from RFF_EMULATOR_SHUFFLE (a seed) and RFF_EMULATOR_THREADS.
/// </summary>
public sealed record EmulatorOptions(ulong? ShuffleSeed = null, int Threads = 0, int StackKib = 64)
{
    public static EmulatorOptions FromEnvironment()
    {
        ulong? seed = Environment.GetEnvironmentVariable("RFF_EMULATOR_SHUFFLE") is { Length: > 0 } s
            ? ulong.Parse(s, CultureInfo.InvariantCulture) : null;
        int threads = Environment.GetEnvironmentVariable("RFF_EMULATOR_THREADS") is { Length: > 0 } t
            ? int.Parse(t, CultureInfo.InvariantCulture) : 0;
        return new EmulatorOptions(seed, threads);
    }
}

/// <summary>
/// The emulated GPU: kernels.cu compiled as C++ (<see cref="EmulatorLibrary"/>) and run on the CPU, with host
/// memory as device memory. Launches run synchronously. What it checks (see cuda_emulator.h): argument count and
/// types; that every pointer argument points into an allocation of this device (or is null); barriers that not
/// every thread reaches, divergent barriers and warp operations; and faulting accesses: every allocation sits
/// between guard pages, so reading or writing past the end of a buffer (or before its start) is reported with the
/// kernel, block, thread and the argument whose buffer it overran. Accesses that stay inside another allocation,
/// or inside the slack of a buffer whose size is not a multiple of 16 bytes, are not caught.
/// </summary>
public sealed unsafe class EmulatedDevice : HostMemoryDevice, IGraphDevice
{
    readonly GraphRecorder _recorder = new();
    readonly Lock _regionsLock = new();
    readonly List<Region> _regions = [];  // sorted by start

    readonly record struct Region(nint Start, nint End, nint Mapping, nuint Length);

    public EmulatedDevice(EmulatorOptions? options = null) : this(EmulatorLibrary.Default, options) { }

    public EmulatedDevice(EmulatorLibrary library, EmulatorOptions? options = null)
    {
        Library = library;
        Options = options ?? EmulatorOptions.FromEnvironment();
    }

    /// <summary>Creates the emulator of kernels.cu, or says why it cannot (no C++ compiler, build failure).</summary>
    public static bool TryCreate(out EmulatedDevice? device, out string reason)
    {
        device = null;
        if (!EmulatorLibrary.IsCompilerAvailable(out reason)) return false;
        try
        {
            device = new EmulatedDevice();
            return true;
        }
        catch (EmulatorException e)
        {
            reason = e.Message;
            return false;
        }
    }

    public EmulatorLibrary Library { get; }

    /// <summary>Options of later launches (may be changed between launches).</summary>
    public EmulatorOptions Options { get; set; }

    public override string Name => "emulator";

    public override string Description =>
        $"{Library.Source.Name} emulated on the CPU ({(Options.ShuffleSeed is { } s ? $"shuffled order, seed {s}" : "in order")})";

    public void Launch(string kernel, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args) =>
        Run(kernel, grid, block, sharedBytes, cooperative: false, args);

    /// <summary>Every block runs at once on its own worker thread (see cuda_emulator.h), whatever <see cref="EmulatorOptions.Threads"/> says.</summary>
    public void LaunchCooperative(string kernel, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args) =>
        Run(kernel, grid, block, sharedBytes, cooperative: true, args);

    public int CooperativeBlocks(string kernel, Dim3 block, int sharedBytes)
    {
        Library.Kernel(kernel);
        return block.Count > 1024 ? 0 : Library.CooperativeBlocks((int)block.Count, sharedBytes);
    }

    void Run(string kernel, Dim3 grid, Dim3 block, int sharedBytes, bool cooperative, ReadOnlySpan<KernelArg> args)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sharedBytes);
        if (_recorder.Active)
        {
            // Checked now as a launch would be (the kernel exists, pointers point into allocations), run when the graph is.
            Library.Kernel(kernel);
            Span<NativeArg> check = args.Length <= 32 ? stackalloc NativeArg[args.Length] : new NativeArg[args.Length];
            NativeArguments(kernel, args, check);
            if (_recorder.Capturing) _recorder.Capture(GraphNode.Launch(kernel, grid, block, sharedBytes, cooperative, args));
            else _recorder.Match(GraphNode.Launch(kernel, grid, block, sharedBytes, cooperative, args));
            return;
        }
        Span<NativeArg> native = args.Length <= 32 ? stackalloc NativeArg[args.Length] : new NativeArg[args.Length];
        NativeArguments(kernel, args, native);
        var options = new NativeOptions
        {
            Seed = Options.ShuffleSeed ?? 0,
            Shuffle = Options.ShuffleSeed.HasValue ? 1 : 0,
            Threads = Options.Threads,
            StackKib = Options.StackKib,
            Cooperative = cooperative ? 1 : 0,
        };
        Library.Launch(kernel, new Dim3Native(grid), new Dim3Native(block), sharedBytes, native, options);
    }

    void NativeArguments(string kernel, ReadOnlySpan<KernelArg> args, Span<NativeArg> native)
    {
        for (int i = 0; i < args.Length; i++)
        {
            native[i] = new NativeArg { Bits = args[i].Bits, Kind = (int)args[i].Kind };
            if (args[i].Kind != KernelArgKind.Pointer || args[i].Bits == 0) continue;
            var region = Find((nint)args[i].Bits)
                         ?? throw new EmulatorException($"kernel '{kernel}' argument {i}: 0x{args[i].Bits:x} points into no allocation of this device");
            native[i].Lo = (ulong)region.Start;
            native[i].Hi = (ulong)region.End;
        }
    }

    // ---- graphs: recorded on the host, replayed launch by launch ----

    sealed class EmulatedGraph : DeviceGraph
    {
        public override void Dispose() { }
    }

    protected override void BeforeHostCall(string operation) => _recorder.RefuseHostCall(operation);

    public override void Copy<T>(Buf<T> source, Buf<T> destination)
    {
        if (!_recorder.Active)
        {
            base.Copy(source, destination);
            return;
        }
        if (source.Length != destination.Length) throw new ArgumentException($"copy of {source.Length} elements into a buffer of {destination.Length}");
        var node = GraphNode.Copy(source.Address, destination.Address, source.Bytes);
        if (_recorder.Capturing) _recorder.Capture(node);
        else _recorder.Match(node);
    }

    public void BeginCapture() => _recorder.BeginCapture(new EmulatedGraph());

    public DeviceGraph EndCapture() => _recorder.EndCapture();

    public void BeginUpdate(DeviceGraph graph) => _recorder.BeginUpdate(Own(graph));

    public bool EndUpdate(out int changedNodes, out string difference)
    {
        var changes = _recorder.EndUpdate(out difference, out _);
        changedNodes = changes?.Count ?? 0;
        if (changes == null) return false;
        foreach (var (node, args) in changes) node.Args = args;
        return true;
    }

    public void AbortGraph() => _recorder.Abort();

    /// <summary>Runs the graph's launches and copies in their order, as launches and copies.</summary>
    public void LaunchGraph(DeviceGraph graph)
    {
        if (_recorder.Active) throw new InvalidOperationException("a graph launch while a pass is recorded or matched");
        foreach (var node in Own(graph).Nodes)
            if (node.Kernel is { } kernel) Run(kernel, node.Grid, node.Block, node.SharedBytes, node.Cooperative, node.Args);
            else Buffer.MemoryCopy((void*)node.CopySource, (void*)node.CopyDestination, node.CopyBytes, node.CopyBytes);
    }

    static EmulatedGraph Own(DeviceGraph graph) =>
        graph as EmulatedGraph ?? throw new ArgumentException("the graph was not captured by an emulator");

    Region? Find(nint address)
    {
        lock (_regionsLock)
        {
            int lo = 0, hi = _regions.Count - 1;
            while (lo <= hi)
            {
                int mid = (lo + hi) >>> 1;
                var r = _regions[mid];
                if (address < r.Start) hi = mid - 1;
                else if (address > r.End) lo = mid + 1;  // the end itself is a valid pointer (an empty slice)
                else return r;
            }
            return null;
        }
    }

    protected override void* AllocateMemory(nuint bytes)
    {
        if (!GuardedMemory.Supported) return base.AllocateMemory(bytes);
        var (data, mapping, length) = GuardedMemory.Allocate(bytes);
        var region = new Region(data, data + (nint)bytes, mapping, length);
        lock (_regionsLock)
        {
            int index = _regions.BinarySearch(region, Comparer<Region>.Create((a, b) => a.Start.CompareTo(b.Start)));
            _regions.Insert(index < 0 ? ~index : index, region);
        }
        return (void*)data;
    }

    protected override void FreeMemory(void* p)
    {
        if (!GuardedMemory.Supported)
        {
            base.FreeMemory(p);
            return;
        }
        Region region;
        lock (_regionsLock)
        {
            int index = _regions.FindIndex(r => r.Start == (nint)p);
            if (index < 0) throw new ArgumentException("not an allocation of this emulator");
            region = _regions[index];
            _regions.RemoveAt(index);
        }
        GuardedMemory.Free(region.Mapping, region.Length);
    }
}
