using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;

using RawFlipFlop.Tests.Kernels;
using RawFlipFlop.Tests.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Gpu;

/// <summary>Buffers and ops of one device for a comparison scenario; frees everything on dispose.</summary>
public sealed class OpSession : IDisposable
{
    readonly List<Action> _frees = [];
    readonly bool _ownsDevice;

    public OpSession(IDevice device, IOps<float> ops, bool ownsDevice)
    {
        Device = device; Ops = ops; _ownsDevice = ownsDevice;
    }

    public IDevice Device { get; }
    public IOps<float> Ops { get; }

    public Buf<float> F(float[] values) { var b = Device.AllocateFrom<float>(values); _frees.Add(() => Device.Free(b)); return b; }
    public Buf<int> I(int[] values) { var b = Device.AllocateFrom<int>(values); _frees.Add(() => Device.Free(b)); return b; }
    public Buf<float> Zeros(long n) { var b = Device.Allocate<float>(n); _frees.Add(() => Device.Free(b)); return b; }
    public Buf<int> IntZeros(long n) { var b = Device.Allocate<int>(n); _frees.Add(() => Device.Free(b)); return b; }

    public void Dispose()
    {
        foreach (var free in _frees) free();
        (Ops as IDisposable)?.Dispose();
        if (_ownsDevice) Device.Dispose();
    }
}

/// <summary>
/// The kernels of the complete GPU path (through <see cref="GpuOps"/>) against their CPU twins, op by op, at
/// atol = rtol = 1e-5 unless a test says why not. The same scenarios run on the emulator (in order and shuffled)
/// and on a real GPU (skipped with the reason when there is none). Accumulated outputs start from random values.
/// </summary>
public abstract class OpComparisons
{
    protected abstract IKernelDevice? Device(out string reason);

    const double Tol = 1e-5;

    IKernelDevice Open()
    {
        var device = Device(out string reason);
        if (device == null) Assert.Skip(reason);
        return device;
    }

    static float[] Random(long n, int seed, double scale = 1)
    {
        var random = new System.Random(seed);
        var values = new float[n];
        for (long i = 0; i < n; i++) values[i] = (float)(scale * (random.NextDouble() * 2 - 1));
        return values;
    }

    static int[] RandomInts(long n, int max, int seed)
    {
        var random = new System.Random(seed);
        return Enumerable.Range(0, (int)n).Select(_ => random.Next(max)).ToArray();
    }

    /// <summary>Runs the scenario on the CPU twins and on the device; compares every float output it names.</summary>
    void Compare(Func<OpSession, (string Name, Buf<float> Output)[]> scenario, double atol = Tol, double rtol = Tol)
    {
        var device = Open();
        Dictionary<string, float[]> expected, actual;
        using (var cpuDevice = new CpuDevice())
        using (var cpu = new OpSession(cpuDevice, new CpuOps<float>(cpuDevice), ownsDevice: false))
            expected = scenario(cpu).ToDictionary(o => o.Name, o => cpu.Device.ToArray(o.Output));
        using (var gpu = new OpSession(device, new GpuOps(device), ownsDevice: false))
        {
            var outputs = scenario(gpu);
            device.Synchronize();
            actual = outputs.ToDictionary(o => o.Name, o => device.ToArray(o.Output));
        }
        foreach (var (name, values) in expected) KernelAssert.Close(values, actual[name], name, atol, rtol);
    }

    [Fact]
    public void Fill_and_sum()
    {
        var x = Random(100_003, 1);
        // A float sum of 10^5 terms depends on the order (CPU: chunks; GPU: strided lanes and a tree): the
        // tolerance is relative to the sum of magnitudes, 1e-5 of it.
        double atol = 1e-5 * x.Sum(v => Math.Abs(v));
        Compare(s =>
        {
            var sum = s.Zeros(1);
            s.Ops.SumForward(sum, s.F(x), x.Length);
            var filled = s.F(Random(1000, 2));
            s.Ops.Fill(filled, 0.25f);
            return [("sum", sum), ("fill", filled)];
        }, atol: atol);
    }

    [Fact]
    public void Embedding_and_positions()
    {
        int b = 3, t = 21, c = 24, v = 5;
        var tokens = RandomInts(b * t, v, 3);
        var table = Random(v * c, 4); var pos = Random(32 * c, 5); var x = Random(b * t * c, 6); var g = Random(b * t * c, 7);
        var dtable0 = Random(v * c, 8); var dpos0 = Random(32 * c, 9);
        Compare(s =>
        {
            var outb = s.Zeros(b * t * c);
            var tok = s.I(tokens);
            s.Ops.EmbeddingForward(outb, tok, s.F(table), b * t, c);
            var dtable = s.F(dtable0);
            s.Ops.EmbeddingBackward(dtable, s.F(g), tok, b * t, v, c);
            var xs = s.F(x);
            s.Ops.PositionAddForward(xs, s.F(pos), 0.3f, b, t, c);
            var dpos = s.F(dpos0);
            s.Ops.PositionAddBackward(dpos, s.F(g), 0.3f, b, t, c);
            var sin = s.Zeros(600 * 64);
            s.Ops.SinusoidalTable(sin, 600, 64);
            var lin = s.F(x);
            s.Ops.LinearPositionForward(lin, 17f, b, t, c);
            return [("embedding", outb), ("embedding backward", dtable), ("position add", xs), ("position add backward", dpos),
                ("sinusoidal table", sin), ("linear position", lin)];
        });
    }

    [Fact]
    public void Rope_forward_and_backward()
    {
        int b = 2, t = 50, c = 32, heads = 4;
        var qkv = Random(b * t * 3 * c, 10);
        Compare(s =>
        {
            var f = s.F(qkv);
            s.Ops.RopeForward(f, b, t, c, heads);
            var r = s.F(qkv);
            s.Ops.RopeBackward(r, b, t, c, heads);
            return [("rope", f), ("rope backward", r)];
        });
    }

    [Fact]
    public void Pointwise_ops()
    {
        int n = 5003;
        var x = Random(n, 11, 4); var g = Random(n, 12);
        Compare(s =>
        {
            var gelu = s.Zeros(n); var dgelu = s.Zeros(n); var sum = s.Zeros(n);
            var xs = s.F(x); var gs = s.F(g);
            s.Ops.GeluForward(gelu, xs, n);
            s.Ops.GeluBackward(dgelu, xs, gs, n);
            s.Ops.ResidualForward(sum, xs, gs, n);
            var drop = s.Zeros(n); var ddrop = s.F(g);
            var spec = new DropoutSpec(0.3f, 77, 12345);
            s.Ops.DropoutForward(drop, xs, spec, n);
            s.Ops.DropoutBackward(ddrop, ddrop, spec, n);
            var copy = s.Zeros(n);
            s.Ops.DropoutForward(copy, xs, DropoutSpec.None, n);
            return [("gelu", gelu), ("gelu backward", dgelu), ("residual", sum),
                ("dropout", drop), ("dropout backward (in place)", ddrop), ("dropout off", copy)];
        });
    }

    [Fact]
    public void Cross_entropy_argmax_and_read_errors()
    {
        int b = 4, t = 40, v = 5, n = b * t;
        var logits = Random(n * v, 14, 3);
        var tokens = new RawFlipFlop.Engine.Data.FlipFlopSampler(RawFlipFlop.Engine.Data.FlipFlopDistribution.WithIgnore(0.4))
            .SampleMany(5, RawFlipFlop.Kernels.Random.RandomDomain.Dataset, 0, b, t).Tokens.Select(x => (int)x).ToArray();
        var targets = tokens.Select((tok, i) => i % t < t - 1 && tok == 1 ? tokens[i + 1] : -1).ToArray();
        Compare(s =>
        {
            var losses = s.Zeros(n); var dlogits = s.F(Random(n * v, 15));
            s.Ops.CrossEntropyForwardBackward(losses, dlogits, s.F(logits), s.I(targets), 0.125f, n, v);
            return [("cross-entropy losses", losses), ("cross-entropy gradient", dlogits)];
        });
        var device = Open();
        int[] Ints(IDevice d, IOps<float> ops, Func<IOps<float>, Buf<float>, Buf<int>, (Buf<int>, Buf<int>)> op)
        {
            var lb = d.AllocateFrom<float>(logits); var tb = d.AllocateFrom<int>(tokens);
            var (x, y) = op(ops, lb, tb);
            d.Synchronize();
            var result = d.ToArray(x).Concat(y.IsEmpty ? [] : d.ToArray(y)).ToArray();
            d.Free(lb); d.Free(tb); d.Free(x); if (!y.IsEmpty) d.Free(y);
            return result;
        }
        (Buf<int>, Buf<int>) Argmax(IDevice d, IOps<float> ops, Buf<float> lb) { var p = d.Allocate<int>(n); ops.ArgmaxForward(p, lb, n, v); return (p, default); }
        (Buf<int>, Buf<int>) Reads(IDevice d, IOps<float> ops, Buf<float> lb, Buf<int> tb)
        {
            var e = d.Allocate<int>(n); var per = d.Allocate<int>(2 * b);
            ops.ReadErrorsForward(e, per, tb, lb, b, t, v);
            return (e, per);
        }
        using var cpuDevice = new CpuDevice();
        var cpuOps = new CpuOps<float>(cpuDevice);
        using var gpuOps = new GpuOps(device);
        Assert.Equal(Ints(cpuDevice, cpuOps, (o, l, _) => Argmax(cpuDevice, o, l)), Ints(device, gpuOps, (o, l, _) => Argmax(device, o, l)));
        var cpuReads = Ints(cpuDevice, cpuOps, (o, l, tk) => Reads(cpuDevice, o, l, tk));
        Assert.True(cpuReads.Skip(n).Where((_, i) => i % 2 == 1).Sum() > 0, "the random logits should make read errors");
        Assert.Equal(cpuReads, Ints(device, gpuOps, (o, l, tk) => Reads(device, o, l, tk)));
    }

    public static TheoryData<int, int, int, int, bool, float, float> AttentionCases => new()
    {
        // b, t, c, heads, alibi, dropout, entropy scale
        { 2, 37, 16, 2, false, 0f, 0f },
        { 1, 70, 64, 1, false, 0f, 0.3f },   // dh 64: 32-key tiles, several tiles per row
        { 2, 45, 12, 3, true, 0f, 0f },      // dh 4 < a warp; ALiBi with 3 heads
        { 2, 33, 32, 4, true, 0.2f, 0.5f },  // dropout on the weights and sharpening together
        { 1, 20, 256, 1, false, 0f, 0f },    // dh 256: a short key tile to fit shared memory
    };

    [Theory]
    [MemberData(nameof(AttentionCases))]
    public void Attention_forward_backward_entropy_and_analysis(int b, int t, int c, int heads, bool alibi, float dropout, float entropyScale)
    {
        var qkv = Random(b * t * 3 * c, 16 + t, 1.5);
        var dout = Random(b * t * c, 17 + t);
        var options = new AttentionOptions(alibi, dropout > 0 ? new DropoutSpec(dropout, 5, 9) : DropoutSpec.None);
        Compare(s =>
        {
            var q = s.F(qkv);
            var outb = s.Zeros(b * t * c);
            var saved = s.Zeros(s.Ops.AttentionSavedLength(b, t, heads));
            s.Ops.AttentionForward(outb, saved, q, options, b, t, c, heads);
            var entropy = s.Zeros(1);
            s.Ops.AttentionEntropyForward(entropy, saved, b, t, heads);
            var dqkv = s.F(Random(b * t * 3 * c, 18)); // overwritten
            s.Ops.AttentionBackward(dqkv, s.F(dout), q, outb, saved, entropyScale, options, b, t, c, heads);
            var probs = s.Zeros((long)b * heads * t * t); var scores = s.Zeros((long)b * heads * t * t);
            s.Ops.AttentionProbabilities(probs, scores, q, options, b, t, c, heads);
            return [("attention output", outb), ("attention entropy", entropy), ("attention dqkv", dqkv), ("attention probabilities", probs),
                ("attention scores", scores)];
        });
    }

    [Fact]
    public void Lstm_forward_and_backward()
    {
        int b = 3, t = 20, hidden = 40;
        var xproj = Random(b * t * 4 * hidden, 19, 1.5); var whh = Random(4 * hidden * hidden, 20, 0.3); var bhh = Random(4 * hidden, 21, 0.5);
        var dh = Random(b * t * hidden, 22); var dwhh0 = Random(4 * hidden * hidden, 23); var dbhh0 = Random(4 * hidden, 24);
        Compare(s =>
        {
            var h = s.Zeros(b * t * hidden); var cell = s.Zeros(b * t * hidden); var gates = s.Zeros(b * t * 4 * hidden);
            var w = s.F(whh);
            s.Ops.LstmForward(h, cell, gates, s.F(xproj), w, s.F(bhh), b, t, hidden);
            var dx = s.Zeros(b * t * 4 * hidden); var dw = s.F(dwhh0); var db = s.F(dbhh0);
            s.Ops.LstmBackward(dx, dw, db, s.F(dh), h, cell, gates, w, b, t, hidden);
            return [("lstm h", h), ("lstm cell", cell), ("lstm gates", gates), ("lstm dxproj", dx), ("lstm dwhh", dw), ("lstm dbhh", db)];
        });
    }
}

[Trait("Category", "Emulator")]
public sealed class EmulatorOpTests : OpComparisons
{
    protected override IKernelDevice? Device(out string reason)
    {
        Toolchain.RequireCompiler();
        reason = "";
        return new EmulatedDevice(new EmulatorOptions());
    }
}

[Trait("Category", "Emulator")]
public sealed class ShuffledEmulatorOpTests : OpComparisons
{
    protected override IKernelDevice? Device(out string reason)
    {
        Toolchain.RequireCompiler();
        reason = "";
        return new EmulatedDevice(new EmulatorOptions(ShuffleSeed: 7));
    }
}

[Trait("Category", "Gpu")]
public sealed class GpuOpTests : OpComparisons
{
    protected override IKernelDevice? Device(out string reason) => GpuFixture.Device(out reason);
}
