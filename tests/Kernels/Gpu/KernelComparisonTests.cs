using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;

using RawFlipFlop.Tests.Kernels;
using RawFlipFlop.Tests.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Gpu;

/// <summary>
/// Each kernel of kernels.cu (through <see cref="GpuOps"/>) against its CPU twin (<see cref="CpuOps{T}"/>) at
/// atol = rtol = 1e-5. The same comparisons run on the emulator (in order and shuffled) and on a real GPU.
/// Accumulated outputs start from random values, so "+=" is checked too.
/// </summary>
public abstract class KernelComparisons
{
    /// <summary>The device under test, or null with the reason (the tests then skip).</summary>
    protected abstract IKernelDevice? Device(out string reason);

    IKernelDevice Open()
    {
        var device = Device(out string reason);
        if (device == null) Assert.Skip(reason);
        return device;
    }

    static float[] Random(long n, int seed, double scale = 1, double offset = 0)
    {
        var random = new System.Random(seed);
        var values = new float[n];
        for (long i = 0; i < n; i++) values[i] = (float)(offset + scale * (random.NextDouble() * 2 - 1));
        return values;
    }

    /// <summary>Runs <paramref name="op"/> on the device over copies of <paramref name="inputs"/>; returns the buffers' final contents.</summary>
    static float[][] OnDevice(IKernelDevice device, float[][] inputs, Action<GpuOps, Buf<float>[]> op)
    {
        var buffers = inputs.Select(a => a.Length == 0 ? Buf<float>.Empty : device.AllocateFrom<float>(a)).ToArray();
        try
        {
            using var ops = new GpuOps(device);
            op(ops, buffers);
            device.Synchronize();
            return buffers.Select(b => b.IsEmpty ? [] : device.ToArray(b)).ToArray();
        }
        finally
        {
            foreach (var b in buffers.Where(b => !b.IsEmpty)) device.Free(b);
        }
    }

    static float[][] OnCpu(float[][] inputs, Action<CpuOps<float>, Buf<float>[]> op)
    {
        using var cpu = new CpuDevice();
        var buffers = inputs.Select(a => a.Length == 0 ? Buf<float>.Empty : cpu.AllocateFrom<float>(a)).ToArray();
        op(new CpuOps<float>(cpu), buffers);
        return buffers.Select(b => b.IsEmpty ? [] : cpu.ToArray(b)).ToArray();
    }

    [Fact]
    public void AdamW_matches_its_CPU_twin()
    {
        var device = Open();
        const int n = 10_007;
        var inputs = new[] { Random(n, 1), Random(n, 2, 0.1), Random(n, 3, 0.01), Random(n, 4, 1e-4, 1.1e-4) };
        foreach (var step in new[] { new AdamWStep(3e-4, 0.9, 0.999, 1e-8, 0.1, 1), new AdamWStep(1e-2, 0.8, 0.99, 1e-6, 0.0, 37) })
        {
            var expected = OnCpu(inputs, (ops, b) => ops.AdamWUpdate(b[0], b[1], b[2], b[3], step, n));
            var actual = OnDevice(device, inputs, (ops, b) => ops.AdamWUpdate(b[0], b[1], b[2], b[3], step, n));
            KernelAssert.Close(expected[0], actual[0], $"adamw params (step {step.Step})");
            KernelAssert.Close(expected[2], actual[2], $"adamw m (step {step.Step})");
            KernelAssert.Close(expected[3], actual[3], $"adamw v (step {step.Step})");
        }
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 33)]
    [InlineData(19, 64)]
    [InlineData(70, 512)]
    public void LayerNorm_forward_matches_its_CPU_twin(int n, int c)
    {
        var device = Open();
        var inputs = new[] { new float[n * c], new float[n], new float[n], Random(n * c, 5, 2, 0.5), Random(c, 6, 0.5, 1), Random(c, 7, 0.2) };
        var expected = OnCpu(inputs, (ops, b) => ops.LayerNormForward(b[0], b[1], b[2], b[3], b[4], b[5], n, c));
        var actual = OnDevice(device, inputs, (ops, b) => ops.LayerNormForward(b[0], b[1], b[2], b[3], b[4], b[5], n, c));
        KernelAssert.Close(expected[0], actual[0], "layernorm output");
        KernelAssert.Close(expected[1], actual[1], "layernorm mean");
        KernelAssert.Close(expected[2], actual[2], "layernorm rstd");
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(7, 33)]
    [InlineData(45, 64)]
    [InlineData(70, 300)]
    public void LayerNorm_backward_matches_its_CPU_twin(int n, int c)
    {
        var device = Open();
        // mean and rstd from the CPU forward, as the training step would have them.
        var x = Random(n * c, 8, 2, 0.5);
        var weight = Random(c, 9, 0.5, 1);
        var forward = OnCpu([new float[n * c], new float[n], new float[n], x, weight, Random(c, 10)],
            (ops, b) => ops.LayerNormForward(b[0], b[1], b[2], b[3], b[4], b[5], n, c));
        var inputs = new[] { Random(n * c, 11, 0.1), Random(c, 12, 0.1), Random(c, 13, 0.1), Random(n * c, 14), x, weight, forward[1], forward[2] };
        var expected = OnCpu(inputs, (ops, b) => ops.LayerNormBackward(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], n, c));
        var actual = OnDevice(device, inputs, (ops, b) => ops.LayerNormBackward(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], n, c));
        KernelAssert.Close(expected[0], actual[0], "layernorm dinput");
        KernelAssert.Close(expected[1], actual[1], "layernorm dweight");
        KernelAssert.Close(expected[2], actual[2], "layernorm dbias");
    }

    public static TheoryData<int, int, int> MatmulShapes => new()
    {
        { 1, 1, 1 },
        { 17, 33, 65 },
        { 130, 257, 70 },
        { 64, 128, 256 },
        { 5, 4, 3 },
        { 129, 8, 131 },
    };

    [Theory]
    [MemberData(nameof(MatmulShapes))]
    public void Matmul_forward_matches_its_CPU_twin(int n, int c, int oc)
    {
        var device = Open();
        foreach (bool withBias in new[] { true, false })
        {
            var inputs = new[] { Random((long)n * oc, 15, 5), Random((long)n * c, 16), Random((long)oc * c, 17), withBias ? Random(oc, 18) : [] };
            var expected = OnCpu(inputs, (ops, b) => ops.MatmulForward(b[0], b[1], b[2], b[3], n, c, oc));
            var actual = OnDevice(device, inputs, (ops, b) => ops.MatmulForward(b[0], b[1], b[2], b[3], n, c, oc));
            KernelAssert.Close(expected[0], actual[0], $"matmul output ({n},{c},{oc}){(withBias ? " with bias" : "")}");
        }
    }

    [Theory]
    [MemberData(nameof(MatmulShapes))]
    public void Matmul_backward_matches_its_CPU_twin(int n, int c, int oc)
    {
        var device = Open();
        var inputs = new[] { Random((long)n * c, 19), Random((long)oc * c, 20), Random(oc, 21), Random((long)n * oc, 22), Random((long)n * c, 23), Random((long)oc * c, 24) };
        var expected = OnCpu(inputs, (ops, b) => ops.MatmulBackward(b[0], b[1], b[2], b[3], b[4], b[5], n, c, oc));
        var actual = OnDevice(device, inputs, (ops, b) => ops.MatmulBackward(b[0], b[1], b[2], b[3], b[4], b[5], n, c, oc));
        string shape = $"({n},{c},{oc})";
        KernelAssert.Close(expected[0], actual[0], $"matmul dinput {shape}");
        KernelAssert.Close(expected[1], actual[1], $"matmul dweight {shape}");
        KernelAssert.Close(expected[2], actual[2], $"matmul dbias {shape}");
    }

    [Fact]
    public void Matmul_backward_without_dinput_and_dbias_computes_only_dweight()
    {
        var device = Open();
        const int n = 33, c = 20, oc = 12;
        var inputs = new[] { Array.Empty<float>(), Random(oc * c, 25), Array.Empty<float>(), Random(n * oc, 26), Random(n * c, 27), Random(oc * c, 28) };
        var expected = OnCpu(inputs, (ops, b) => ops.MatmulBackward(b[0], b[1], b[2], b[3], b[4], b[5], n, c, oc));
        var actual = OnDevice(device, inputs, (ops, b) => ops.MatmulBackward(b[0], b[1], b[2], b[3], b[4], b[5], n, c, oc));
        KernelAssert.Close(expected[1], actual[1], "matmul dweight");
    }

    [Fact]
    public void Matmul_on_unaligned_slices_matches()
    {
        // Views that start one float into an allocation: the float4 paths must step aside.
        var device = Open();
        const int n = 40, c = 64, oc = 36;
        var inp = Random(n * c + 1, 29);
        var weight = Random(oc * c + 1, 30);
        var expected = OnCpu([new float[n * oc], inp[1..], weight[1..], []], (ops, b) => ops.MatmulForward(b[0], b[1], b[2], b[3], n, c, oc));
        var outBuf = device.Allocate<float>(n * oc + 1);
        var inBuf = device.AllocateFrom<float>(inp);
        var wBuf = device.AllocateFrom<float>(weight);
        try
        {
            using var ops = new GpuOps(device);
            ops.MatmulForward(outBuf.Slice(1), inBuf.Slice(1), wBuf.Slice(1), Buf<float>.Empty, n, c, oc);
            KernelAssert.Close(expected[0], device.ToArray(outBuf)[1..], "matmul output on unaligned views");
        }
        finally
        {
            device.Free(outBuf);
            device.Free(inBuf);
            device.Free(wBuf);
        }
    }

    [Fact]
    public void Results_are_bit_reproducible()
    {
        var device = Open();
        const int n = 100, c = 96, oc = 80;
        var inputs = new[] { Random(n * c, 31), Random(oc * c, 32), Random(oc, 33), Random(n * oc, 34), Random(n * c, 35), Random(oc * c, 36) };
        var first = OnDevice(device, inputs, (ops, b) => ops.MatmulBackward(b[0], b[1], b[2], b[3], b[4], b[5], n, c, oc));
        var second = OnDevice(device, inputs, (ops, b) => ops.MatmulBackward(b[0], b[1], b[2], b[3], b[4], b[5], n, c, oc));
        for (int i = 0; i < 3; i++) Assert.Equal(first[i], second[i]);
    }
}

[Trait("Category", "Emulator")]
public sealed class EmulatorKernelTests : KernelComparisons
{
    protected override IKernelDevice? Device(out string reason)
    {
        Toolchain.RequireCompiler();
        reason = "";
        return new EmulatedDevice(new EmulatorOptions());
    }
}

/// <summary>The comparisons with the threads of every block run in a shuffled order (missing barriers would show).</summary>
[Trait("Category", "Emulator")]
public sealed class ShuffledEmulatorKernelTests : KernelComparisons
{
    protected override IKernelDevice? Device(out string reason)
    {
        Toolchain.RequireCompiler();
        reason = "";
        return new EmulatedDevice(new EmulatorOptions(ShuffleSeed: 20240601));
    }
}

/// <summary>The comparisons on a real GPU; skipped with the reason where there is none.</summary>
[Trait("Category", "Gpu")]
public sealed class GpuKernelTests : KernelComparisons
{
    protected override IKernelDevice? Device(out string reason) => GpuFixture.Device(out reason);
}

/// <summary>One CUDA device for all GPU tests of the process (opened on first use).</summary>
public static class GpuFixture
{
    static readonly Lazy<(CudaDevice? Device, string Reason)> s_device = new(() =>
    {
        bool ok = CudaDevice.TryCreate(out var device, out string reason);
        if (ok) device!.SynchronizeEachLaunch = true;
        return (device, reason);
    });

    public static CudaDevice? Device(out string reason)
    {
        var (device, why) = s_device.Value;
        reason = $"no usable GPU: {why}";
        return device;
    }
}
