using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Bench;

/// <summary>
/// Kernel profiling of the matmul family: every GEMM of the paper baseline (B*T = 8192 rows, d = 512; QKV, attention
/// output, feed-forward in and out, the 5-way head) as forward, backward (input and weight gradients) and weight
/// gradient alone, in each matmul precision, with the achieved TFLOP/s (2 N C OC per product over the mean time) in
/// its own column. On the CUDA kernels when a GPU is present, else on the CPU engine (its TF32 modes are the
/// kernels' exact twins, not fast code). Run: dotnet run -c Release --project bench -- --filter '*GemmOpBenchmarks*'
/// </summary>
[Config(typeof(GemmOpBenchmarks.Columns))]
public class GemmOpBenchmarks
{
    const int N = 8192;

    /// <summary>(name, C, OC) of the baseline's linear layers.</summary>
    static readonly (string Name, int C, int OC)[] Layers = [("qkv", 512, 1536), ("attn-out", 512, 512), ("ff-in", 512, 2048), ("ff-out", 2048, 512), ("head", 512, 5)];

    /// <summary>"name C->OC" (short: BenchmarkDotNet abbreviates long parameter values); every product has N = 8192 rows.</summary>
    public static IEnumerable<string> Shapes() => Layers.Select(l => $"{l.Name} {l.C}->{l.OC}");

    [ParamsSource(nameof(Shapes))]
    public string Shape { get; set; } = "";

    [Params("forward", "backward", "weight")]
    public string Product { get; set; } = "forward";

    [Params(MatmulPrecision.Fp32, MatmulPrecision.Tf32x3, MatmulPrecision.Tf32)]
    public MatmulPrecision Precision { get; set; }

    IDevice? _device;
    IOps<float>? _ops;
    Buf<float> _x, _w, _bias, _y, _dy, _dx, _dw;
    int _c, _oc;

    /// <summary>Floating-point operations of one call of <paramref name="product"/> on the layer <paramref name="shape"/>.</summary>
    public static double Flops(string shape, string product)
    {
        var (_, c, oc) = Layers.Single(l => shape.StartsWith(l.Name + " ", StringComparison.Ordinal));
        return 2.0 * N * c * oc * (product == "backward" ? 2 : 1);
    }

    [GlobalSetup]
    public void Setup()
    {
        IDevice device;
        if (CudaDevice.TryCreate(out var cuda, out _))
        {
            device = cuda!;
            _ops = new GpuOps(cuda!);
        }
        else
        {
            device = new CpuDevice();
            _ops = new CpuOps<float>(device);
        }
        _device = device;
        (_, _c, _oc) = Layers.Single(l => Shape.StartsWith(l.Name + " ", StringComparison.Ordinal));
        var random = new Random(1);
        Buf<float> Make(long n, double scale = 1)
        {
            var values = new float[n];
            for (long i = 0; i < n; i++) values[i] = (float)(scale * (random.NextDouble() * 2 - 1));
            return device.AllocateFrom<float>(values);
        }
        _x = Make((long)N * _c); _w = Make((long)_oc * _c, 0.05); _bias = Make(_oc); _y = Make((long)N * _oc);
        _dy = Make((long)N * _oc); _dx = Make((long)N * _c); _dw = Make((long)_oc * _c);
        device.Synchronize();
    }

    [Benchmark(Description = "matmul")]
    public void Matmul()
    {
        switch (Product)
        {
            case "forward": _ops!.MatmulForward(_y, _x, _w, _bias, N, _c, _oc, Precision); break;
            case "backward": _ops!.MatmulBackward(_dx, _dw, Buf<float>.Empty, _dy, _x, _w, N, _c, _oc, Precision); break;
            default: _ops!.MatmulBackward(Buf<float>.Empty, _dw, Buf<float>.Empty, _dy, _x, _w, N, _c, _oc, Precision); break;
        }
        _device!.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        (_ops as IDisposable)?.Dispose();
        _device?.Dispose();
    }

    /// <summary>Adds the TFLOP/s column.</summary>
    public sealed class Columns : ManualConfig
    {
        public Columns() => AddColumn(new TflopsColumn());
    }

    /// <summary>Achieved TFLOP/s: the product's floating-point operations over the mean time of one call.</summary>
    sealed class TflopsColumn : IColumn
    {
        public string Id => nameof(TflopsColumn);
        public string ColumnName => "TFLOP/s";
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => "2 N C OC floating-point operations per product (two products for backward) over the mean time, in 10^12 per second";
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var stats = summary[benchmarkCase]?.ResultStatistics;
            if (stats == null) return "-";
            string shape = (string)benchmarkCase.Parameters[nameof(Shape)];
            string product = (string)benchmarkCase.Parameters[nameof(Product)];
            return (Flops(shape, product) / (stats.Mean * 1e-9) / 1e12).ToString("0.00", CultureInfo.InvariantCulture);
        }
    }
}
