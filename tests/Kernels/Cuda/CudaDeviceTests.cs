using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Devices;

using RawFlipFlop.Tests.Kernels;
using RawFlipFlop.Tests.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Cuda;

/// <summary>The CUDA device itself (memory, launches, errors); skipped with the reason where there is no GPU.</summary>
[Trait("Category", "Gpu")]
[Collection(GpuCollection.Name)]
public class CudaDeviceTests
{
    static CudaDevice Open()
    {
        var device = GpuFixture.Device(out string reason);
        if (device == null) Assert.Skip(reason);
        return device;
    }

    [Fact]
    public void Memory_round_trips_and_starts_zeroed()
    {
        var device = Open();
        var a = device.Allocate<float>(1000);
        var b = device.Allocate<float>(1000);
        try
        {
            Assert.All(device.ToArray(a), v => Assert.Equal(0f, v));
            var values = Enumerable.Range(0, 1000).Select(i => i * 0.5f).ToArray();
            device.Upload<float>(values, a);
            device.Copy(a, b);
            Assert.Equal(values, device.ToArray(b));
            Assert.Equal(values[10..20], device.ToArray(b.Slice(10, 10)));
        }
        finally
        {
            device.Free(a);
            device.Free(b);
        }
    }

    [Fact]
    public void Device_reports_itself_and_its_kernels()
    {
        var device = Open();
        Assert.Equal("cuda", device.Name);
        Assert.False(device.IsHostMemory);
        Assert.Contains(device.DeviceName, device.Description);
        Assert.True(device.FunctionAttribute("matmul_forward", CudaFunctionAttribute.NumRegs) > 0);
        Assert.Equal(0, device.FunctionAttribute("matmul_forward", CudaFunctionAttribute.LocalSizeBytes));  // no spills
    }

    [Fact]
    public void Launch_errors_name_the_kernel_and_the_cuda_error()
    {
        var device = Open();
        var buffer = device.Allocate<float>(16);
        try
        {
            var e = Assert.Throws<CudaException>(() => device.Launch("layernorm_backward_reduce", 1, 4096, 0, buffer, buffer, buffer, 1, 1));
            Assert.Contains("layernorm_backward_reduce", e.Message);
            Assert.Contains("CUDA_ERROR_", e.Message);
            Assert.Throws<ArgumentException>(() => device.Launch("no_such_kernel", 1, 1, 0));
        }
        finally
        {
            device.Free(buffer);
        }
    }

    [Fact]
    public void Any_thread_can_use_the_device()
    {
        var device = Open();
        const int n = 4096;
        var values = Enumerable.Range(0, n).Select(i => i * 0.25f).ToArray();
        Buf<float> source = default;
        var creator = new Thread(() => source = device.AllocateFrom<float>(values));  // not the thread that opened the device
        creator.Start();
        creator.Join();
        try
        {
            using var ops = new RawFlipFlop.Kernels.Gpu.GpuOps(device);
            Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i =>
            {
                var copy = device.Allocate<float>(n);
                try
                {
                    device.Copy(source, copy);
                    ops.ResidualForward(copy, copy, source, n);
                    ops.Fill(copy.Slice(0, 1), i);
                    var result = device.ToArray(copy);
                    Assert.Equal(i, result[0]);
                    Assert.Equal(values[1..].Select(v => 2 * v), result[1..]);
                }
                finally
                {
                    device.Free(copy);
                }
            });
        }
        finally
        {
            device.Free(source);
        }
    }

    [Fact]
    public void Events_time_queued_work()
    {
        var device = Open();
        const int n = 1 << 20;
        var buffer = device.Allocate<float>(4L * n);
        try
        {
            using var ops = new RawFlipFlop.Kernels.Gpu.GpuOps(device);
            float ms = device.Time(() => ops.AdamWUpdate(buffer.Slice(0, n), buffer.Slice(n, n), buffer.Slice(2L * n, n), buffer.Slice(3L * n, n),
                new AdamWStep(1e-3, 0.9, 0.999, 1e-8, 0, 1), n));
            Assert.InRange(ms, 0, 1000);
        }
        finally
        {
            device.Free(buffer);
        }
    }
}

/// <summary>Device selection, wherever the tests run (in the GPU collection: on a GPU machine it opens the GPU).</summary>
[Trait("Category", "Cpu")]
[Collection(GpuCollection.Name)]
public class DeviceSelectionTests
{
    [Fact]
    public void Auto_falls_back_to_the_cpu_with_the_reason_when_cuda_is_unusable()
    {
        using var device = DeviceSelection.Open("auto", out string? note);
        if (CudaDevice.IsAvailable(out _) && device.Name == "cuda") return;  // a GPU machine
        Assert.Equal("cpu", device.Name);
        Assert.NotNull(note);
        Assert.Contains("CUDA is not usable", note);
    }

    [Fact]
    public void Explicit_cuda_without_a_gpu_is_an_error_naming_the_reason()
    {
        if (CudaDevice.IsAvailable(out string reason)) return;  // a GPU machine: nothing to check here
        var e = Assert.Throws<InvalidOperationException>(() => DeviceSelection.Open("cuda", out _));
        Assert.Contains(reason, e.Message);
        Assert.Throws<ArgumentException>(() => DeviceSelection.Open("tpu", out _));
    }
}
