using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;
using RawFlipFlop.Tests.Kernels;

namespace RawFlipFlop.Tests.Engine.Training;

/// <summary>The GPU step benchmark's instruments (issue 13): the per-kernel timing decorator and the step timer, on the emulator.</summary>
[Trait("Category", "Emulator")]
public sealed class StepBenchmarkTests
{
    static EmulatedDevice Emulator()
    {
        Toolchain.RequireCompiler();
        return new EmulatedDevice();
    }

    [Fact]
    public void The_timing_decorator_counts_every_launch_per_kernel_and_changes_no_result()
    {
        using var device = Emulator();
        using var timing = new KernelTimingDevice(device);
        float[] values = [.. Enumerable.Range(0, 3000).Select(i => (float)Math.Sin(i))];
        float Sum(IKernelDevice d)
        {
            using var ops = new GpuOps(d);
            var x = d.AllocateFrom<float>(values);
            var total = d.Allocate<float>(1);
            ops.SumForward(total, x, values.Length);
            ops.Fill(x, 2f);
            ops.SumForward(total, x, values.Length);
            float result = d.ToArray(total)[0];
            d.Free(x);
            d.Free(total);
            return result;
        }
        Assert.Equal(Sum(device), Sum(timing));
        var report = timing.Report();
        Assert.Equal(["sum_forward", "fill_value"], report.Select(k => k.Kernel).Order().Reverse());
        Assert.Equal(2, report.Single(k => k.Kernel == "sum_forward").Launches);
        Assert.Equal(1, report.Single(k => k.Kernel == "fill_value").Launches);
        Assert.All(report, k => Assert.True(k.Milliseconds > 0));
        timing.Reset();
        Assert.Empty(timing.Report());
    }

    [Fact]
    public void A_step_of_the_tiny_model_reports_its_kernels_per_step()
    {
        using var device = Emulator();
        using var timing = new KernelTimingDevice(device);
        var result = StepBenchmark.Run("tiny", timing, d => new GpuOps(d), MatmulPrecision.Fp32, warmup: 1, steps: 2, batch: 2);
        Assert.Equal("tiny", result.Model);
        Assert.Equal(2, result.Steps);
        Assert.True(result.MinMs > 0 && result.MedianMs >= result.MinMs);
        var kernels = result.KernelsPerStep.ToDictionary(k => k.Kernel);
        // one layer: the QKV, attention output, feed-forward in and out matmuls, and the head; one attention
        Assert.Equal(5, kernels["matmul_forward"].Launches);
        Assert.Equal(1, kernels["attention_forward"].Launches);
        Assert.Equal(1, kernels["adamw_update"].Launches);
        Assert.True(result.KernelsPerStep.Sum(k => k.Milliseconds) <= result.MedianMs * 2 + 1);
        Assert.Empty(timing.Report());  // read and reset by the run
        Assert.True(result.GraphMs > 0 && result.DirectMs > 0);
        Assert.Matches(@"^1 capture\(s\) of \d+ operations, 2 graph launches, 1 direct$", result.Graph);  // the warm-up step allocates: direct
        Assert.Throws<ArgumentException>(() => StepBenchmark.Run("huge", timing, d => new GpuOps(d), MatmulPrecision.Fp32, 0, 1));
    }
}
