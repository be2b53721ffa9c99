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
/// Kernel profiling: every op a training step of the paper baseline calls (B=16, T=512, d=512, H=8; the LSTM at
/// H=128, the optimizer over the baseline's 19.3M parameters), at the baseline's shapes, on each available device:
/// the CPU twins, and the CUDA kernels when a GPU is present (each measurement ends with a device synchronisation).
/// Two columns divide the work of one call by its mean time: GFLOP/s (floating-point operations, counted as
/// <see cref="Work"/> documents) and GB/s (the bytes the op must read and write at least once).
/// Run: dotnet run -c Release --project bench -- --filter 'RawFlipFlop.Bench.OpBenchmarks.*'
/// </summary>
[MemoryDiagnoser]
[Config(typeof(OpBenchmarks.Columns))]
public class OpBenchmarks
{
    const int B = 16, T = 512, C = 512, H = 8, Dh = C / H, N = B * T, Hidden = 128, Vocab = 5;

    /// <summary>The baseline's parameter count (6 layers of 12 d^2 + 13 d, embeddings, final norm, head).</summary>
    const long Parameters = 6L * (12 * C * C + 13 * C) + Vocab * C + T * C + 2 * C + Vocab * C + Vocab;

    /// <summary>Causal (query, key) pairs of one head: T(T+1)/2.</summary>
    const double CausalPairs = T * (T + 1) / 2.0;

    /// <summary>
    /// (floating-point operations, bytes) of one call of each benchmark, by method name. Matrix products count 2 per
    /// multiply-add; attention counts the useful causal products only (forward Q K^T and P V: 4 dh per pair; backward
    /// dV, dP, dQ, dK: 8 dh per pair; a recomputation of the scores is not counted); pointwise ops count their
    /// arithmetic roughly (layer norm 8 per element forward, 12 backward; GELU 10 per element with erf as one;
    /// AdamW 12 per parameter); LSTM the recurrent product (2 B T 4H H forward, twice that and the weight gradient
    /// backward) plus 10 per gate element. Bytes: each input read once, each output written once, in FP32.
    /// </summary>
    public static readonly Dictionary<string, (double Flops, double Bytes)> Work = new()
    {
        [nameof(EmbeddingForward)] = (0, 4.0 * (N + 2L * N * C)),
        [nameof(EmbeddingBackward)] = ((double)N * C, 4.0 * (N + 2L * N * C)),
        [nameof(PositionAddForward)] = (2.0 * N * C, 4.0 * (2L * N * C + T * C)),
        [nameof(LayerNormForward)] = (8.0 * N * C, 4.0 * (2L * N * C + 2 * N)),
        [nameof(LayerNormBackward)] = (12.0 * N * C, 4.0 * (4L * N * C + 2 * N)),
        [nameof(MatmulForward)] = (2.0 * N * C * 4 * C, 4.0 * ((long)N * C + 4L * C * C + 4L * N * C)),
        [nameof(MatmulBackward)] = (4.0 * N * C * 4 * C, 4.0 * (2L * N * C + 8L * C * C + 4L * N * C)),
        [nameof(AttentionForward)] = (4.0 * B * H * Dh * CausalPairs, 4.0 * (3L * N * C + (long)N * C)),
        [nameof(AttentionBackward)] = (8.0 * B * H * Dh * CausalPairs, 4.0 * (3L * N * C + 2L * N * C + 3L * N * C)),
        [nameof(GeluForward)] = (10.0 * N * 4 * C, 4.0 * 2 * N * 4 * C),
        [nameof(GeluBackward)] = (14.0 * N * 4 * C, 4.0 * 3 * N * 4 * C),
        [nameof(ResidualForward)] = ((double)N * C, 4.0 * 3 * N * C),
        [nameof(DropoutForward)] = ((double)N * C, 4.0 * 2 * N * C),
        [nameof(CrossEntropy)] = (20.0 * N * Vocab, 4.0 * (3L * N * Vocab + 2 * N)),
        [nameof(AdamW)] = (12.0 * Parameters, 4.0 * 7 * Parameters),
        [nameof(LstmForward)] = (2.0 * B * T * 4 * Hidden * Hidden + 10.0 * N * 4 * Hidden, 4.0 * (N * 4L * Hidden * 2 + 2L * N * Hidden)),
        [nameof(LstmBackward)] = (6.0 * B * T * 4 * Hidden * Hidden + 10.0 * N * 4 * Hidden, 4.0 * (N * 4L * Hidden * 2 + 3L * N * Hidden)),
    };

    public static IEnumerable<string> Devices()
    {
        yield return "cpu";
        if (CudaDevice.IsAvailable(out _)) yield return "cuda";
    }

    [ParamsSource(nameof(Devices))]
    public string Device { get; set; } = "cpu";

    IDevice? _device;
    IOps<float>? _ops;
    // (N,C) activations, (N,4C) feed-forward activations, (4C,C) weight, (4C) bias, (B,T,3C) qkv, saved attention state,
    // (N) layer-norm statistics, (V,C) and (T,C) tables, (N,V) logits, LSTM (N,4H) gates and (N,H) states, (P) optimizer
    Buf<float> _x, _x2, _y, _y2, _w, _dw, _bias, _dbias, _qkv, _att, _saved, _dqkv, _mean, _rstd, _gamma, _dgamma, _dbeta,
        _table, _dtable, _pos, _logits, _dlogits, _losses, _xproj, _dxproj, _h, _dh, _cell, _gates, _whh, _dwhh, _bhh, _dbhh,
        _params, _grads, _m, _v;
    Buf<int> _tokens, _targets;

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
        var device = _device;
        Buf<float> Make(long n, double scale = 1)
        {
            var values = new float[n];
            for (long i = 0; i < n; i++) values[i] = (float)(scale * (random.NextDouble() * 2 - 1));
            return device.AllocateFrom<float>(values);
        }
        _x = Make((long)N * C); _x2 = Make((long)N * C); _y = Make((long)N * 4 * C); _y2 = Make((long)N * 4 * C);
        _w = Make(4L * C * C, 0.05); _dw = Make(4L * C * C); _bias = Make(4 * C); _dbias = Make(4 * C);
        _qkv = Make(3L * N * C); _att = Make((long)N * C); _saved = Make(_ops.AttentionSavedLength(B, T, H)); _dqkv = Make(3L * N * C);
        _mean = Make(N); _rstd = Make(N); _gamma = Make(C); _dgamma = Make(C); _dbeta = Make(C);
        _table = Make((long)Vocab * C); _dtable = Make((long)Vocab * C); _pos = Make((long)T * C);
        _logits = Make((long)N * Vocab); _dlogits = Make((long)N * Vocab); _losses = Make(N);
        _xproj = Make((long)N * 4 * Hidden); _dxproj = Make((long)N * 4 * Hidden); _h = Make((long)N * Hidden); _dh = Make((long)N * Hidden, 0.01);
        _cell = Make((long)N * Hidden); _gates = Make((long)N * 4 * Hidden);
        _whh = Make(4L * Hidden * Hidden, 0.1); _dwhh = Make(4L * Hidden * Hidden); _bhh = Make(4 * Hidden); _dbhh = Make(4 * Hidden);
        _params = Make(Parameters, 0.05); _grads = Make(Parameters, 0.01); _m = Make(Parameters, 0.001); _v = device.AllocateFrom<float>(Enumerable.Repeat(1e-4f, (int)Parameters).ToArray());
        _tokens = device.AllocateFrom<int>(Enumerable.Range(0, N).Select(i => random.Next(Vocab)).ToArray());
        _targets = device.AllocateFrom<int>(Enumerable.Range(0, N).Select(i => i % 2 == 0 ? random.Next(2) + 3 : -1).ToArray());
        _ops.AttentionForward(_att, _saved, _qkv, AttentionOptions.Plain, B, T, C, H);
        _ops.LayerNormForward(_x2, _mean, _rstd, _x, _gamma, _bias.Slice(0, C), N, C);
        _ops.LstmForward(_h, _cell, _gates, _xproj, _whh, _bhh, B, T, Hidden);
        _device.Synchronize();
    }

    [Benchmark(Description = "embedding_forward (8192 tokens x 512)")]
    public void EmbeddingForward() { _ops!.EmbeddingForward(_x2, _tokens, _table, N, C); _device!.Synchronize(); }

    [Benchmark(Description = "embedding_backward")]
    public void EmbeddingBackward() { _ops!.EmbeddingBackward(_dtable, _x, _tokens, N, Vocab, C); _device!.Synchronize(); }

    [Benchmark(Description = "position_add_forward (16 x 512 x 512)")]
    public void PositionAddForward() { _ops!.PositionAddForward(_x2, _pos, 1f, B, T, C); _device!.Synchronize(); }

    [Benchmark(Description = "layernorm_forward (8192 x 512)")]
    public void LayerNormForward() { _ops!.LayerNormForward(_x2, _mean, _rstd, _x, _gamma, _bias.Slice(0, C), N, C); _device!.Synchronize(); }

    [Benchmark(Description = "layernorm_backward")]
    public void LayerNormBackward() { _ops!.LayerNormBackward(_att, _dgamma, _dbeta, _x2, _x, _gamma, _mean, _rstd, N, C); _device!.Synchronize(); }

    [Benchmark(Description = "matmul_forward (8192 x 512 -> 2048)")]
    public void MatmulForward() { _ops!.MatmulForward(_y, _x, _w, _bias, N, C, 4 * C, MatmulPrecision.Fp32); _device!.Synchronize(); }

    [Benchmark(Description = "matmul_backward (input and weight)")]
    public void MatmulBackward() { _ops!.MatmulBackward(_x2, _dw, _dbias, _y, _x, _w, N, C, 4 * C, MatmulPrecision.Fp32); _device!.Synchronize(); }

    [Benchmark(Description = "attention_forward (16 x 8 heads x 512 x 64)")]
    public void AttentionForward() { _ops!.AttentionForward(_att, _saved, _qkv, AttentionOptions.Plain, B, T, C, H); _device!.Synchronize(); }

    [Benchmark(Description = "attention_backward")]
    public void AttentionBackward() { _ops!.AttentionBackward(_dqkv, _att, _qkv, _att, _saved, 0f, AttentionOptions.Plain, B, T, C, H); _device!.Synchronize(); }

    [Benchmark(Description = "gelu_forward (8192 x 2048)")]
    public void GeluForward() { _ops!.GeluForward(_y2, _y, (long)N * 4 * C); _device!.Synchronize(); }

    [Benchmark(Description = "gelu_backward")]
    public void GeluBackward() { _ops!.GeluBackward(_y2, _y, _y, (long)N * 4 * C); _device!.Synchronize(); }

    [Benchmark(Description = "residual_forward (8192 x 512)")]
    public void ResidualForward() { _ops!.ResidualForward(_x2, _x, _att, (long)N * C); _device!.Synchronize(); }

    [Benchmark(Description = "dropout_forward (8192 x 512, p 0.1)")]
    public void DropoutForward() { _ops!.DropoutForward(_x2, _x, new DropoutSpec(0.1f, 1, 2), (long)N * C); _device!.Synchronize(); }

    [Benchmark(Description = "crossentropy_forward_backward (8192 x 5)")]
    public void CrossEntropy() { _ops!.CrossEntropyForwardBackward(_losses, _dlogits, _logits, _targets, 1f / N, N, Vocab); _device!.Synchronize(); }

    [Benchmark(Description = "adamw_update (19.3M parameters)")]
    public void AdamW() { _ops!.AdamWUpdate(_params, _grads, _m, _v, new AdamWStep(3e-4, 0.9, 0.999, 1e-8, 0.1, 10), Parameters); _device!.Synchronize(); }

    [Benchmark(Description = "lstm_forward (16 x 512, H=128)")]
    public void LstmForward() { _ops!.LstmForward(_h, _cell, _gates, _xproj, _whh, _bhh, B, T, Hidden); _device!.Synchronize(); }

    [Benchmark(Description = "lstm_backward")]
    public void LstmBackward()
    {
        _ops!.LstmBackward(_dxproj, _dwhh, _dbhh, _dh, _h, _cell, _gates, _whh, B, T, Hidden, MatmulPrecision.Fp32);
        _device!.Synchronize();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        (_ops as IDisposable)?.Dispose();
        _device?.Dispose();
    }

    /// <summary>Adds the GFLOP/s and GB/s columns.</summary>
    public sealed class Columns : ManualConfig
    {
        public Columns()
        {
            AddColumn(new RateColumn("GFLOP/s", "floating-point operations of one call (as OpBenchmarks.Work counts them) over the mean time, in 10^9 per second", w => w.Flops));
            AddColumn(new RateColumn("GB/s", "bytes one call must read and write at least once over the mean time, in 10^9 per second", w => w.Bytes));
        }
    }

    /// <summary>A quantity of <see cref="Work"/> per second of the mean time, in 10^9.</summary>
    sealed class RateColumn(string name, string legend, Func<(double Flops, double Bytes), double> quantity) : IColumn
    {
        public string Id => "OpRate" + name;
        public string ColumnName => name;
        public bool AlwaysShow => true;
        public ColumnCategory Category => ColumnCategory.Custom;
        public int PriorityInCategory => 0;
        public bool IsNumeric => true;
        public UnitType UnitType => UnitType.Dimensionless;
        public string Legend => legend;
        public bool IsAvailable(Summary summary) => true;
        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
        {
            var stats = summary[benchmarkCase]?.ResultStatistics;
            if (stats == null || !Work.TryGetValue(benchmarkCase.Descriptor.WorkloadMethod.Name, out var work)) return "-";
            double amount = quantity(work);
            return amount == 0 ? "-" : (amount / (stats.Mean * 1e-9) / 1e9).ToString("0.0", CultureInfo.InvariantCulture);
        }
    }
}
