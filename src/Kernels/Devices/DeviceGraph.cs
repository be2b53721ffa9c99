namespace RawFlipFlop.Kernels.Devices;

/// <summary>
/// A kernel device that can record a pass of launches and device-to-device copies into a graph and launch the graph
/// again (CUDA graphs on a GPU; the emulator replays its record). <see cref="StepGraph"/> drives it; the passes it
/// records must not wait for the device (no uploads, downloads, allocations or synchronisation: those are refused
/// with <see cref="GraphCaptureRefusedException"/> while a pass is recorded or matched).
/// </summary>
public interface IGraphDevice : IKernelDevice
{
    /// <summary>Later launches and copies are recorded into a new graph instead of being run, until <see cref="EndCapture"/>.</summary>
    void BeginCapture();

    /// <summary>The graph of the launches since <see cref="BeginCapture"/>, instantiated but not run.</summary>
    DeviceGraph EndCapture();

    /// <summary>Later launches and copies are matched against <paramref name="graph"/>'s, not run, until <see cref="EndUpdate"/>.</summary>
    void BeginUpdate(DeviceGraph graph);

    /// <summary>
    /// Ends a matching pass. True when its launches were the graph's, one for one, in kernel, grid, block, shared memory
    /// and argument types, and its copies were the same: the arguments that changed (scalars such as the learning rate
    /// and the dropout stream, or pointers) are then written into the graph's <paramref name="changedNodes"/> nodes.
    /// False, with the first difference in <paramref name="difference"/>, when the pass must be captured anew.
    /// </summary>
    bool EndUpdate(out int changedNodes, out string difference);

    /// <summary>Ends a capture or an update that failed part-way; the graph being captured is discarded.</summary>
    void AbortGraph();

    /// <summary>Queues one run of <paramref name="graph"/>.</summary>
    void LaunchGraph(DeviceGraph graph);
}

/// <summary>A pass recorded by an <see cref="IGraphDevice"/>: its nodes in launch order, and the device's handles.</summary>
public abstract class DeviceGraph : IDisposable
{
    internal List<GraphNode> Nodes { get; } = [];

    /// <summary>Launches and copies in the graph.</summary>
    public int Count => Nodes.Count;

    public abstract void Dispose();
}

/// <summary>One node of a <see cref="DeviceGraph"/>: a kernel launch, or a device-to-device copy when <see cref="Kernel"/> is null.</summary>
internal sealed class GraphNode
{
    public string? Kernel { get; init; }
    public Dim3 Grid { get; init; }
    public Dim3 Block { get; init; }
    public int SharedBytes { get; init; }
    public bool Cooperative { get; init; }
    public KernelArg[] Args { get; set; } = [];
    public nint CopySource { get; init; }
    public nint CopyDestination { get; init; }
    public long CopyBytes { get; init; }
    /// <summary>The device's handle of the node (a CUgraphNode on a GPU).</summary>
    public nint Handle { get; set; }

    public static GraphNode Launch(string kernel, Dim3 grid, Dim3 block, int sharedBytes, bool cooperative, ReadOnlySpan<KernelArg> args) =>
        new() { Kernel = kernel, Grid = grid, Block = block, SharedBytes = sharedBytes, Cooperative = cooperative, Args = args.ToArray() };

    public static GraphNode Copy(nint source, nint destination, long bytes) =>
        new() { CopySource = source, CopyDestination = destination, CopyBytes = bytes };

    public override string ToString() => Kernel is { } k
        ? $"{(Cooperative ? "cooperative " : "")}{k} (grid {Grid}, block {Block}, {SharedBytes} bytes shared, {Args.Length} arguments)"
        : $"copy of {CopyBytes} bytes 0x{CopySource:x} -> 0x{CopyDestination:x}";

    /// <summary>Why <paramref name="other"/> cannot be written into this node by changing arguments; null when it can.</summary>
    public string? Difference(GraphNode other)
    {
        if (Kernel != other.Kernel || Grid != other.Grid || Block != other.Block || SharedBytes != other.SharedBytes ||
            Cooperative != other.Cooperative || Args.Length != other.Args.Length ||
            CopySource != other.CopySource || CopyDestination != other.CopyDestination || CopyBytes != other.CopyBytes)
            return $"{other} where the graph has {this}";
        for (int i = 0; i < Args.Length; i++)
            if (Args[i].Kind != other.Args[i].Kind)
                return $"{other}: argument {i} is {other.Args[i].Kind}, the graph's is {Args[i].Kind}";
        return null;
    }

    public bool SameArguments(GraphNode other)
    {
        for (int i = 0; i < Args.Length; i++)
            if (Args[i].Bits != other.Args[i].Bits) return false;
        return true;
    }
}

/// <summary>
/// A host call (upload, download, allocation, synchronisation) made while a pass is recorded into or matched against
/// a device graph: the pass cannot be a graph as it is. <see cref="StepGraph"/> runs such a pass directly instead.
/// </summary>
public sealed class GraphCaptureRefusedException(string message) : InvalidOperationException(message);

/// <summary>
/// The bookkeeping every <see cref="IGraphDevice"/> shares: whether a pass is being captured or matched, the nodes
/// captured, the position of a matching pass in the graph, and the argument changes it found.
/// </summary>
internal sealed class GraphRecorder
{
    enum Mode { Off, Capturing, Updating }

    Mode _mode;
    DeviceGraph? _graph;
    int _cursor;
    string? _difference;
    readonly List<(GraphNode Node, KernelArg[] Args)> _changes = [];

    public bool Capturing => _mode == Mode.Capturing;
    public bool Updating => _mode == Mode.Updating;
    public bool Active => _mode != Mode.Off;

    public void BeginCapture(DeviceGraph graph)
    {
        if (Active) throw new InvalidOperationException("a device graph is already being captured or updated");
        (_mode, _graph) = (Mode.Capturing, graph);
    }

    public void Capture(GraphNode node) => _graph!.Nodes.Add(node);

    public DeviceGraph EndCapture()
    {
        if (!Capturing) throw new InvalidOperationException("no device graph is being captured");
        var graph = _graph!;
        (_mode, _graph) = (Mode.Off, null);
        return graph;
    }

    public void BeginUpdate(DeviceGraph graph)
    {
        if (Active) throw new InvalidOperationException("a device graph is already being captured or updated");
        (_mode, _graph, _cursor, _difference) = (Mode.Updating, graph, 0, null);
        _changes.Clear();
    }

    /// <summary>Matches the next operation of an updating pass against the graph (the first difference is kept).</summary>
    public void Match(GraphNode candidate)
    {
        if (_difference != null) return;
        var nodes = _graph!.Nodes;
        if (_cursor >= nodes.Count)
        {
            _difference = $"the pass goes on after the graph's {nodes.Count} operations with {candidate}";
            return;
        }
        var node = nodes[_cursor++];
        _difference = node.Difference(candidate) is { } d ? $"operation {_cursor - 1}: {d}" : null;
        if (_difference == null && !node.SameArguments(candidate)) _changes.Add((node, candidate.Args));
    }

    /// <summary>Ends an updating pass: the changed nodes of <paramref name="graph"/> with their new arguments, or null and the difference.</summary>
    public IReadOnlyList<(GraphNode Node, KernelArg[] Args)>? EndUpdate(out string difference, out DeviceGraph graph)
    {
        if (!Updating) throw new InvalidOperationException("no device graph is being updated");
        graph = _graph!;
        if (_difference == null && _cursor < _graph!.Nodes.Count)
            _difference = $"the pass ended after {_cursor} of the graph's {_graph.Nodes.Count} operations";
        difference = _difference ?? "";
        _mode = Mode.Off;
        _graph = null;
        return _difference == null ? _changes : null;
    }

    /// <summary>Forgets the pass in progress; the graph being captured, if any, for the device to release.</summary>
    public DeviceGraph? Abort()
    {
        var captured = Capturing ? _graph : null;
        (_mode, _graph) = (Mode.Off, null);
        _changes.Clear();
        return captured;
    }

    /// <summary>Throws when a pass is being recorded or matched: <paramref name="operation"/> would wait for the device.</summary>
    public void RefuseHostCall(string operation)
    {
        if (!Active) return;
        throw new GraphCaptureRefusedException(
            $"{operation} while a pass is {(Capturing ? "captured into" : "matched against")} a device graph (only launches and device copies can be)");
    }
}
