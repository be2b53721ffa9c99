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

[Trait("Category", "Gpu")]
[Collection(GpuCollection.Name)]
public sealed class GpuStepGraphTests : StepGraphScenarios
{
    protected override IKernelDevice? Device(out string reason) => GpuFixture.Device(out reason);
}
