using BenchmarkDotNet.Attributes;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Bench;

/// <summary>
/// Kernel profiling: the main ops at the paper baseline's shapes (B=16, T=512, d=512, H=8; the LSTM at H=128) on
/// each available device: the CPU twins, and the CUDA kernels when a GPU is present (each measurement ends with a
/// device synchronisation). Run: dotnet run -c Release --project bench -- --filter '*OpBenchmarks*'
/// </summary>
[MemoryDiagnoser]
public class OpBenchmarks
{
    const int B = 16, T = 512, C = 512, H = 8, N = B * T, Hidden = 128;

    public static IEnumerable<string> Devices()
    {
        yield return "cpu";
        if (CudaDevice.IsAvailable(out _)) yield return "cuda";
    }

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cpu";

    IDevice? _device;
    IOps<float>? _ops;
    Buf<float> _x, _y, _w, _bias, _qkv, _att, _saved, _dqkv, _mean, _rstd, _xproj, _h, _cell, _gates, _whh, _bhh;

    [GlobalSetup]
    public void Setup()
    {
        if (Device == "cuda")
        {
            CudaDevice.TryCreate(out var cuda, out string reason);
            _device = cuda ?? throw new InvalidOperationException(reason);
            _ops = new GpuOps(cuda);
        }
        else
        {
            _device = new CpuDevice();
            _ops = new CpuOps<float>(_device);
        }
        var random = new Random(1);
        Buf<float> Make(long n, double scale = 1)
        {
            var values = new float[n];
            for (long i = 0; i < n; i++) values[i] = (float)(scale * (random.NextDouble() * 2 - 1));
            return _device.AllocateFrom<float>(values);
        }
        _x = Make((long)N * C); _y = Make((long)N * 4 * C); _w = Make(4L * C * C, 0.05); _bias = Make(4 * C);
        _qkv = Make(3L * N * C); _att = Make((long)N * C); _saved = Make(_ops.AttentionSavedLength(B, T, H)); _dqkv = Make(3L * N * C);
        _mean = Make(N); _rstd = Make(N);
        _xproj = Make((long)N * 4 * Hidden); _h = Make((long)N * Hidden); _cell = Make((long)N * Hidden); _gates = Make((long)N * 4 * Hidden);
        _whh = Make(4L * Hidden * Hidden, 0.1); _bhh = Make(4 * Hidden);
        _ops.AttentionForward(_att, _saved, _qkv, AttentionOptions.Plain, B, T, C, H);
        _device.Synchronize();
    }

    [Benchmark(Description = "matmul_forward (8192 x 512 -> 2048)")]
    public void MatmulForward() { _ops!.MatmulForward(_y, _x, _w, _bias, N, C, 4 * C, MatmulPrecision.Fp32); _device!.Synchronize(); }

    [Benchmark(Description = "attention_forward (16 x 8 heads x 512 x 64)")]
    public void AttentionForward() { _ops!.AttentionForward(_att, _saved, _qkv, AttentionOptions.Plain, B, T, C, H); _device!.Synchronize(); }

    [Benchmark(Description = "attention_backward")]
    public void AttentionBackward() { _ops!.AttentionBackward(_dqkv, _att, _qkv, _att, _saved, 0f, AttentionOptions.Plain, B, T, C, H); _device!.Synchronize(); }

    [Benchmark(Description = "layernorm_forward (8192 x 512)")]
    public void LayerNormForward() { _ops!.LayerNormForward(_att, _mean, _rstd, _x, _bias.Slice(0, C), _bias.Slice(C, C), N, C); _device!.Synchronize(); }

    [Benchmark(Description = "lstm_forward (16 x 512, H=128)")]
    public void LstmForward() { _ops!.LstmForward(_h, _cell, _gates, _xproj, _whh, _bhh, B, T, Hidden); _device!.Synchronize(); }

    [GlobalCleanup]
    public void Cleanup()
    {
        (_ops as IDisposable)?.Dispose();
        _device?.Dispose();
    }
}
