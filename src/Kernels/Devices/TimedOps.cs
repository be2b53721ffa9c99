using System.Diagnostics;
using System.Numerics;

namespace RawFlipFlop.Kernels.Devices;

/// <summary>
/// A timing decorator over any <see cref="IOps{T}"/>: per op, the number of calls and the wall time (the device
/// is synchronised after each op so GPU time is attributed to the op that queued it). For profiling a step.
/// </summary>
public sealed class TimedOps<T> : IOps<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly IOps<T> _inner;
    readonly Dictionary<string, (long Calls, long Ticks)> _times = [];

    public TimedOps(IOps<T> inner) => _inner = inner;

    public IDevice Device => _inner.Device;

    /// <summary>Op name to (calls, total time), most expensive first.</summary>
    public IReadOnlyList<(string Op, long Calls, TimeSpan Time)> Report() =>
        _times.OrderByDescending(kv => kv.Value.Ticks).Select(kv => (kv.Key, kv.Value.Calls, Stopwatch.GetElapsedTime(0, kv.Value.Ticks))).ToList();

    public void Reset() => _times.Clear();

    static long Begin() => Stopwatch.GetTimestamp();

    void End(string op, long start)
    {
        _inner.Device.Synchronize();
        long ticks = Stopwatch.GetTimestamp() - start;
        _times.TryGetValue(op, out var entry);
        _times[op] = (entry.Calls + 1, entry.Ticks + ticks);
    }

    public void Fill(Buf<T> x, T value) { var s = Begin(); _inner.Fill(x, value); End("Fill", s); }
    public void SumForward(Buf<T> output, Buf<T> input, long n) { var s = Begin(); _inner.SumForward(output, input, n); End("SumForward", s); }
    public void LossGuard(Buf<int> diverged, Buf<T> loss) { var s = Begin(); _inner.LossGuard(diverged, loss); End("LossGuard", s); }
    public void EmbeddingForward(Buf<T> output, Buf<int> tokens, Buf<T> table, int n, int c) { var s = Begin(); _inner.EmbeddingForward(output, tokens, table, n, c); End("EmbeddingForward", s); }
    public void EmbeddingBackward(Buf<T> dtable, Buf<T> doutput, Buf<int> tokens, int n, int v, int c) { var s = Begin(); _inner.EmbeddingBackward(dtable, doutput, tokens, n, v, c); End("EmbeddingBackward", s); }
    public void PositionAddForward(Buf<T> x, Buf<T> table, T scale, int b, int t, int c) { var s = Begin(); _inner.PositionAddForward(x, table, scale, b, t, c); End("PositionAddForward", s); }
    public void PositionAddBackward(Buf<T> dtable, Buf<T> dx, T scale, int b, int t, int c) { var s = Begin(); _inner.PositionAddBackward(dtable, dx, scale, b, t, c); End("PositionAddBackward", s); }
    public void SinusoidalTable(Buf<T> table, int t, int c) { var s = Begin(); _inner.SinusoidalTable(table, t, c); End("SinusoidalTable", s); }
    public void PositionScaleForward(Buf<T> x, Buf<T> table, Buf<T> scale, int b, int t, int c) { var s = Begin(); _inner.PositionScaleForward(x, table, scale, b, t, c); End("PositionScaleForward", s); }
    public void PositionScaleBackward(Buf<T> dscale, Buf<T> dx, Buf<T> table, int b, int t, int c) { var s = Begin(); _inner.PositionScaleBackward(dscale, dx, table, b, t, c); End("PositionScaleBackward", s); }
    public void LinearPositionForward(Buf<T> x, T divisor, int b, int t, int c) { var s = Begin(); _inner.LinearPositionForward(x, divisor, b, t, c); End("LinearPositionForward", s); }
    public void LinearPositionEmbeddingForward(Buf<T> output, Buf<int> tokens, Buf<T> table, T divisor, int b, int t, int c) { var s = Begin(); _inner.LinearPositionEmbeddingForward(output, tokens, table, divisor, b, t, c); End("LinearPositionEmbeddingForward", s); }
    public void LinearPositionEmbeddingBackward(Buf<T> dtable, Buf<T> doutput, Buf<int> tokens, int n, int v, int c) { var s = Begin(); _inner.LinearPositionEmbeddingBackward(dtable, doutput, tokens, n, v, c); End("LinearPositionEmbeddingBackward", s); }
    public void RopeForward(Buf<T> qkv, int b, int t, int c, int heads, int rotaryDim, bool rotateValues) { var s = Begin(); _inner.RopeForward(qkv, b, t, c, heads, rotaryDim, rotateValues); End("RopeForward", s); }
    public void RopeBackward(Buf<T> dqkv, int b, int t, int c, int heads, int rotaryDim, bool rotateValues) { var s = Begin(); _inner.RopeBackward(dqkv, b, t, c, heads, rotaryDim, rotateValues); End("RopeBackward", s); }
    public void LayerNormForward(Buf<T> output, Buf<T> mean, Buf<T> rstd, Buf<T> input, Buf<T> weight, Buf<T> bias, int n, int c) { var s = Begin(); _inner.LayerNormForward(output, mean, rstd, input, weight, bias, n, c); End("LayerNormForward", s); }
    public void LayerNormBackward(Buf<T> dinput, Buf<T> dweight, Buf<T> dbias, Buf<T> doutput, Buf<T> input, Buf<T> weight, Buf<T> mean, Buf<T> rstd, int n, int c) { var s = Begin(); _inner.LayerNormBackward(dinput, dweight, dbias, doutput, input, weight, mean, rstd, n, c); End("LayerNormBackward", s); }
    public void MatmulForward(Buf<T> output, Buf<T> input, Buf<T> weight, Buf<T> bias, int n, int c, int oc, MatmulPrecision precision) { var s = Begin(); _inner.MatmulForward(output, input, weight, bias, n, c, oc, precision); End("MatmulForward", s); }
    public void MatmulBackward(Buf<T> dinput, Buf<T> dweight, Buf<T> dbias, Buf<T> doutput, Buf<T> input, Buf<T> weight, int n, int c, int oc, MatmulPrecision precision) { var s = Begin(); _inner.MatmulBackward(dinput, dweight, dbias, doutput, input, weight, n, c, oc, precision); End("MatmulBackward", s); }
    public long AttentionSavedLength(int b, int t, int heads) => _inner.AttentionSavedLength(b, t, heads);
    public void AttentionForward(Buf<T> output, Buf<T> saved, Buf<T> qkv, AttentionOptions options, int b, int t, int c, int heads) { var s = Begin(); _inner.AttentionForward(output, saved, qkv, options, b, t, c, heads); End("AttentionForward", s); }
    public void AttentionBackward(Buf<T> dqkv, Buf<T> doutput, Buf<T> qkv, Buf<T> output, Buf<T> saved, T entropyScale, AttentionOptions options, int b, int t, int c, int heads) { var s = Begin(); _inner.AttentionBackward(dqkv, doutput, qkv, output, saved, entropyScale, options, b, t, c, heads); End("AttentionBackward", s); }
    public void AttentionEntropyForward(Buf<T> output, Buf<T> saved, int b, int t, int heads) { var s = Begin(); _inner.AttentionEntropyForward(output, saved, b, t, heads); End("AttentionEntropyForward", s); }
    public void AttentionProbabilities(Buf<T> probs, Buf<T> scores, Buf<T> qkv, AttentionOptions options, int b, int t, int c, int heads) { var s = Begin(); _inner.AttentionProbabilities(probs, scores, qkv, options, b, t, c, heads); End("AttentionProbabilities", s); }
    public void GeluForward(Buf<T> output, Buf<T> input, long n) { var s = Begin(); _inner.GeluForward(output, input, n); End("GeluForward", s); }
    public void GeluBackward(Buf<T> dinput, Buf<T> input, Buf<T> doutput, long n) { var s = Begin(); _inner.GeluBackward(dinput, input, doutput, n); End("GeluBackward", s); }
    public void ResidualForward(Buf<T> output, Buf<T> a, Buf<T> b, long n) { var s = Begin(); _inner.ResidualForward(output, a, b, n); End("ResidualForward", s); }
    public void DropoutForward(Buf<T> output, Buf<T> input, DropoutSpec spec, long n) { var s = Begin(); _inner.DropoutForward(output, input, spec, n); End("DropoutForward", s); }
    public void DropoutBackward(Buf<T> dinput, Buf<T> doutput, DropoutSpec spec, long n) { var s = Begin(); _inner.DropoutBackward(dinput, doutput, spec, n); End("DropoutBackward", s); }
    public void LstmForward(Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> xproj, Buf<T> whh, Buf<T> bhh, int b, int t, int hidden) { var s = Begin(); _inner.LstmForward(h, cell, gates, xproj, whh, bhh, b, t, hidden); End("LstmForward", s); }
    public void LstmBackward(Buf<T> dxproj, Buf<T> dwhh, Buf<T> dbhh, Buf<T> dh, Buf<T> h, Buf<T> cell, Buf<T> gates, Buf<T> whh, int b, int t, int hidden, MatmulPrecision precision) { var s = Begin(); _inner.LstmBackward(dxproj, dwhh, dbhh, dh, h, cell, gates, whh, b, t, hidden, precision); End("LstmBackward", s); }
    public void CrossEntropyForwardBackward(Buf<T> losses, Buf<T> dlogits, Buf<T> logits, Buf<int> targets, T dscale, int n, int v) { var s = Begin(); _inner.CrossEntropyForwardBackward(losses, dlogits, logits, targets, dscale, n, v); End("CrossEntropyForwardBackward", s); }
    public void ArgmaxForward(Buf<int> predictions, Buf<T> logits, int n, int v) { var s = Begin(); _inner.ArgmaxForward(predictions, logits, n, v); End("ArgmaxForward", s); }
    public void ReadErrorsForward(Buf<int> errors, Buf<int> perSequence, Buf<int> tokens, Buf<T> logits, int b, int t, int v) { var s = Begin(); _inner.ReadErrorsForward(errors, perSequence, tokens, logits, b, t, v); End("ReadErrorsForward", s); }
    public void AdamWUpdate(Buf<T> parameters, Buf<T> gradients, Buf<T> m, Buf<T> v, AdamWStep step, long n, Buf<int> skip = default) { var s = Begin(); _inner.AdamWUpdate(parameters, gradients, m, v, step, n, skip); End("AdamWUpdate", s); }
}
