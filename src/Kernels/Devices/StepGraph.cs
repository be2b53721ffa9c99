namespace RawFlipFlop.Kernels.Devices;

/// <summary>
/// Runs a repeated pass of launches (a training step) as one device graph: the first pass that can be captured is
/// recorded into a graph and launched; every later pass is run on the host only to collect its launches, which are
/// matched against the graph's, and the arguments that changed (learning rate, AdamW's step, dropout streams, the
/// loss scale) are written into the graph before it is launched again. A pass whose launches differ in kind (another
/// kernel, grid or copy, e.g. when sharpening starts) is captured anew. A pass that calls the host (an allocation on
/// first use, an upload) runs directly and the next one is captured. On a device without graphs, or when the device
/// refuses to capture (the driver's error is kept in <see cref="DirectReason"/>), every pass runs directly; the results
/// are the same bits either way, because the same kernels run with the same arguments in the same order.
/// </summary>
public sealed class StepGraph(IDevice device, bool enabled = true) : IDisposable
{
    // Passes in a row that called the host while captured: after this many the pass is taken to need the host every time.
    const int MaxRefusedCaptures = 3;

    readonly IGraphDevice? _device = enabled ? device as IGraphDevice : null;
    DeviceGraph? _graph;
    int _refusedInARow;

    /// <summary>Why passes run directly (no graph device, disabled, or what the device said); null while graphs are used.</summary>
    public string? DirectReason { get; private set; } =
        !enabled ? "device graphs are off" : device is IGraphDevice ? null : $"the {device.Name} device has no graphs";

    /// <summary>Graphs captured (the first, and one more for every pass that differed in kind).</summary>
    public int Captures { get; private set; }

    /// <summary>Graph launches.</summary>
    public int Launches { get; private set; }

    /// <summary>Passes run directly.</summary>
    public int DirectRuns { get; private set; }

    /// <summary>Kernel nodes whose arguments were rewritten, summed over all updates.</summary>
    public long UpdatedNodes { get; private set; }

    /// <summary>Why the graph was last captured anew or a pass last ran directly (diagnostics).</summary>
    public string? LastRecapture { get; private set; }

    /// <summary>Launches in the current graph (0 before the first capture).</summary>
    public int GraphSize => _graph?.Count ?? 0;

    /// <summary>Queues <paramref name="pass"/>: as a graph launch where possible, else directly.</summary>
    public void Run(Action pass)
    {
        if (_device == null || DirectReason != null)
        {
            Direct(pass);
            return;
        }
        if (_graph != null && TryUpdate(pass)) return;
        Capture(pass);
    }

    bool TryUpdate(Action pass)
    {
        var graph = _graph!;
        _device!.BeginUpdate(graph);
        try
        {
            pass();
        }
        catch (GraphCaptureRefusedException e)
        {
            _device.AbortGraph();
            Drop($"the pass called the host: {e.Message}");
            Direct(pass);
            return true;
        }
        catch
        {
            _device.AbortGraph();
            throw;
        }
        bool matched;
        int changed;
        string difference;
        try
        {
            matched = _device.EndUpdate(out changed, out difference);
        }
        catch (GraphUnsupportedException e)
        {
            // the graph may be half rewritten: it is dropped, and this pass and all later ones run directly
            Drop(e.Message);
            DirectReason = e.Message;
            Direct(pass);
            return true;
        }
        if (!matched)
        {
            Drop(difference);
            return false;
        }
        UpdatedNodes += changed;
        _device.LaunchGraph(graph);
        Launches++;
        return true;
    }

    void Capture(Action pass)
    {
        try
        {
            _device!.BeginCapture();
        }
        catch (GraphUnsupportedException e)
        {
            DirectReason = e.Message;
            Direct(pass);
            return;
        }
        try
        {
            pass();
            _graph = _device.EndCapture();
        }
        catch (GraphCaptureRefusedException e)
        {
            _device.AbortGraph();
            LastRecapture = $"the pass called the host: {e.Message}";
            if (++_refusedInARow >= MaxRefusedCaptures) DirectReason = $"{MaxRefusedCaptures} passes in a row called the host while captured; last: {e.Message}";
            Direct(pass);
            return;
        }
        catch (GraphUnsupportedException e)
        {
            _device.AbortGraph();
            DirectReason = e.Message;
            Direct(pass);
            return;
        }
        catch
        {
            _device.AbortGraph();
            throw;
        }
        _refusedInARow = 0;
        Captures++;
        _device.LaunchGraph(_graph);
        Launches++;
    }

    void Direct(Action pass)
    {
        pass();
        DirectRuns++;
    }

    void Drop(string reason)
    {
        LastRecapture = reason;
        _graph?.Dispose();
        _graph = null;
    }

    public void Dispose()
    {
        _graph?.Dispose();
        _graph = null;
    }
}

/// <summary>The device cannot capture this pass at all (e.g. the driver refuses a kind of launch in a graph): run it directly.</summary>
public sealed class GraphUnsupportedException(string message, Exception? inner = null) : Exception(message, inner);
