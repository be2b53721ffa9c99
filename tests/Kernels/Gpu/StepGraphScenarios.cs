using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Gpu;

/// <summary>
/// <see cref="StepGraph"/> on a graph device: a pass is captured (its launches do not run until the graph does),
/// later passes rewrite only the arguments that changed, a pass of another shape is captured anew, a pass that calls
/// the host runs directly, and a failing pass leaves the device usable. Run on the emulator and on a real GPU.
/// </summary>
public abstract class StepGraphScenarios
{
    protected abstract IKernelDevice? Device(out string reason);

    IGraphDevice Open()
    {
        var device = Device(out string reason);
        if (device == null) Assert.Skip(reason);
        return (IGraphDevice)device;
    }

    // The pass: x (n) = value, then total (1) = sum of x, then copy (n) = x.
    static Action Pass(GpuOps ops, Buf<float> x, Buf<float> total, Buf<float> copy, float value) => () =>
    {
        ops.Fill(x, value);
        ops.SumForward(total, x, x.Length);
        ops.Device.Copy(x, copy);
    };

    [Fact]
    public void A_captured_pass_runs_only_when_its_graph_is_launched_and_later_passes_rewrite_changed_scalars()
    {
        var device = Open();
        using var ops = new GpuOps(device);
        const int n = 1000;
        var x = device.Allocate<float>(n); var total = device.Allocate<float>(1); var copy = device.Allocate<float>(n);
        try
        {
            // Capture by hand: nothing runs until the launch.
            device.BeginCapture();
            Pass(ops, x, total, copy, 3f)();
            using (var graph = device.EndCapture())
            {
                Assert.Equal(3, graph.Count);
                Assert.Equal(0f, device.ToArray(total)[0]);
                device.LaunchGraph(graph);
                Assert.Equal(3000f, device.ToArray(total)[0]);
                Assert.All(device.ToArray(copy), v => Assert.Equal(3f, v));
            }

            using var step = new StepGraph(device);
            Assert.Null(step.DirectReason);
            foreach (float value in new[] { 1f, 2f, 2f, 0.5f })
            {
                step.Run(Pass(ops, x, total, copy, value));
                Assert.Equal(value * n, device.ToArray(total)[0]);
                Assert.All(device.ToArray(copy), v => Assert.Equal(value, v));
            }
            Assert.Equal((1, 4, 0), (step.Captures, step.Launches, step.DirectRuns));
            Assert.Equal(2, step.UpdatedNodes);  // 1 -> 2 and 2 -> 0.5 rewrote the fill; 2 -> 2 nothing
            Assert.Equal(3, step.GraphSize);

            // Another length changes the grid of the fill and the sum's count: captured anew.
            var shorter = x.Slice(0, 10);
            step.Run(Pass(ops, shorter, total, copy.Slice(0, 10), 4f));
            Assert.Equal(40f, device.ToArray(total)[0]);
            Assert.Equal(2, step.Captures);
            Assert.Contains("where the graph has", step.LastRecapture);
        }
        finally
        {
            device.Free(x); device.Free(total); device.Free(copy);
        }
    }

    [Fact]
    public void A_pass_that_calls_the_host_runs_directly_and_the_next_one_is_captured()
    {
        var device = Open();
        using var ops = new GpuOps(device);
        var x = device.Allocate<float>(64); var total = device.Allocate<float>(1); var copy = device.Allocate<float>(64);
        try
        {
            using var step = new StepGraph(device);
            bool firstUse = true;
            void PassWithLazyAllocation()
            {
                if (firstUse)
                {
                    var scratch = device.Allocate<float>(8);  // refused while captured: the pass then runs directly
                    firstUse = false;
                    device.Free(scratch);
                }
                Pass(ops, x, total, copy, 2f)();
            }
            step.Run(PassWithLazyAllocation);
            Assert.Equal((0, 0, 1), (step.Captures, step.Launches, step.DirectRuns));
            Assert.Contains("an allocation while a pass is captured into a device graph", step.LastRecapture);
            Assert.Equal(128f, device.ToArray(total)[0]);
            step.Run(PassWithLazyAllocation);
            Assert.Equal((1, 1, 1), (step.Captures, step.Launches, step.DirectRuns));

            // A pass that always uploads is run directly; after three tries graphs are given up with the reason.
            using var always = new StepGraph(device);
            for (int i = 0; i < 4; i++) always.Run(() => device.Upload<float>([1f], total));
            Assert.Equal(4, always.DirectRuns);
            Assert.Contains("3 passes in a row called the host", always.DirectReason);
            Assert.Contains("an upload", always.DirectReason);
        }
        finally
        {
            device.Free(x); device.Free(total); device.Free(copy);
        }
    }

    [Fact]
    public void A_failing_pass_leaves_the_device_usable()
    {
        var device = Open();
        using var ops = new GpuOps(device);
        var x = device.Allocate<float>(16); var total = device.Allocate<float>(1);
        try
        {
            using var step = new StepGraph(device);
            var e = Assert.Throws<ArgumentException>(() => step.Run(() =>
            {
                ops.Fill(x, 1f);
                ops.SumForward(total, x, 16);
                ops.LossGuard(Buf<int>.Empty, total);  // the op refuses an empty flag
            }));
            Assert.Contains("diverged", e.Message);
            // The capture was abandoned: plain launches and copies work again.
            ops.Fill(x, 5f);
            ops.SumForward(total, x, 16);
            Assert.Equal(80f, device.ToArray(total)[0]);
            Assert.Throws<InvalidOperationException>(() => device.EndCapture());
        }
        finally
        {
            device.Free(x); device.Free(total);
        }
    }

    [Fact]
    public void Staged_copies_and_fences_round_trip()
    {
        var device = Open();
        var staged = device.AllocateHost<int>(5);
        var back = device.AllocateHost<int>(5);
        var buffer = device.Allocate<int>(5);
        using var fence = device.CreateFence();
        try
        {
            int[] values = [3, -1, 4, 1, -5];
            values.CopyTo(staged.Span);
            device.UploadAsync(staged, buffer);
            device.DownloadAsync(buffer, back);
            fence.Record();
            fence.Wait();
            Assert.Equal(values, back.Span.ToArray());
            Assert.Throws<ArgumentException>(() => device.UploadAsync(staged.Slice(0, 4), buffer));
        }
        finally
        {
            device.FreeHost(staged); device.FreeHost(back); device.Free(buffer);
        }
        Assert.Throws<ArgumentException>(() => device.FreeHost(staged));
    }
}

[Trait("Category", "Emulator")]
public sealed class EmulatorStepGraphTests : StepGraphScenarios
{
    protected override IKernelDevice? Device(out string reason)
    {
        Toolchain.RequireCompiler();
        reason = "";
        return new EmulatedDevice(new EmulatorOptions());
    }

    [Fact]
    public void The_cpu_runs_every_pass_directly()
    {
        using var device = new CpuDevice();
        using var step = new StepGraph(device);
        int runs = 0;
        step.Run(() => runs++);
        step.Run(() => runs++);
        Assert.Equal((2, 2, 0), (runs, step.DirectRuns, step.Captures));
        Assert.Equal("the cpu device has no graphs", step.DirectReason);
        Assert.Equal("device graphs are off", new StepGraph(new EmulatedDevice(new EmulatorOptions()), enabled: false).DirectReason);
    }
}

/// <summary>An emulator whose graph calls fail at one stage, as a driver may (an entry point missing, a refused node).</summary>
sealed class RefusingGraphDevice(EmulatedDevice inner, string stage) : IGraphDevice
{
    public EmulatedDevice Inner { get; } = inner;
    void Refuse(string at)
    {
        if (at == stage) throw new GraphUnsupportedException($"refused at {at}");
    }

    public void BeginCapture() { Refuse("begin"); Inner.BeginCapture(); }
    public DeviceGraph EndCapture() { var g = Inner.EndCapture(); if (stage == "end") { g.Dispose(); Refuse("end"); } return g; }
    public void BeginUpdate(DeviceGraph graph) => Inner.BeginUpdate(graph);
    public bool EndUpdate(out int changedNodes, out string difference)
    {
        bool matched = Inner.EndUpdate(out changedNodes, out difference);
        if (changedNodes > 0) Refuse("update");
        return matched;
    }
    public void AbortGraph() => Inner.AbortGraph();
    public void LaunchGraph(DeviceGraph graph) => Inner.LaunchGraph(graph);
    public void Launch(string kernel, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args) => Inner.Launch(kernel, grid, block, sharedBytes, args);
    public void LaunchCooperative(string kernel, Dim3 grid, Dim3 block, int sharedBytes, params ReadOnlySpan<KernelArg> args) => Inner.LaunchCooperative(kernel, grid, block, sharedBytes, args);
    public int CooperativeBlocks(string kernel, Dim3 block, int sharedBytes) => Inner.CooperativeBlocks(kernel, block, sharedBytes);
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
    public void Dispose() => Inner.Dispose();
}

[Trait("Category", "Emulator")]
public sealed class StepGraphFallbackTests
{
    /// <summary>
    /// When the device refuses a graph (at the start or end of a capture, or when rewriting a node), the pass runs
    /// directly, every later pass too, with the device's reason kept; results are unaffected.
    /// </summary>
    [Theory]
    [InlineData("begin")]
    [InlineData("end")]
    [InlineData("update")]
    public void A_refused_graph_leaves_every_pass_direct_with_the_reason(string stage)
    {
        Toolchain.RequireCompiler();
        using var device = new RefusingGraphDevice(new EmulatedDevice(new EmulatorOptions()), stage);
        using var ops = new GpuOps(device);
        var x = device.Allocate<float>(100); var total = device.Allocate<float>(1);
        using var step = new StepGraph(device);
        foreach (float value in new[] { 1f, 2f, 3f, 4f })
        {
            step.Run(() => { ops.Fill(x, value); ops.SumForward(total, x, 100); });
            Assert.Equal(100 * value, device.ToArray(total)[0]);
        }
        Assert.Equal($"refused at {stage}", step.DirectReason);
        Assert.Equal(stage == "update" ? (1, 1, 3) : (0, 0, 4), (step.Captures, step.Launches, step.DirectRuns));
    }
}

[Trait("Category", "Gpu")]
[Collection(GpuCollection.Name)]
public sealed class GpuStepGraphTests : StepGraphScenarios
{
    protected override IKernelDevice? Device(out string reason) => GpuFixture.Device(out reason);
}
