using System.Numerics.Tensors;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Kernels.Cpu;

public sealed unsafe partial class CpuOps<T>
{
    [ThreadStatic] static T[]? t_scratch1;
    [ThreadStatic] static T[]? t_scratch2;

    /// <summary>Query rows per block of the causal GEMMs: block r only multiplies keys 0..end of block r.</summary>
    const int CausalBlock = 64;

    static T[] Scratch(ref T[]? slot, long size) =>
        slot != null && slot.Length >= size ? slot : (slot = GC.AllocateArray<T>((int)size, pinned: true));

    /// <summary>ALiBi slopes for H heads (Press et al.): geometric for powers of two, interleaved otherwise.</summary>
    public static double[] AlibiSlopes(int heads)
    {
        static double[] PowerOfTwo(int n)
        {
            double start = Math.Pow(2, -8.0 / n);
            var s = new double[n];
            for (int i = 0; i < n; i++) s[i] = Math.Pow(start, i + 1);
            return s;
        }
        if ((heads & (heads - 1)) == 0) return PowerOfTwo(heads);
        int closest = 1 << (int)Math.Floor(Math.Log2(heads));
        var head = PowerOfTwo(closest).ToList();
        var extra = AlibiSlopes(2 * closest);
        for (int i = 0; head.Count < heads; i += 2) head.Add(extra[i]);
        return [.. head];
    }

    /// <summary>
    /// weights (T,T) = the causal probabilities probs (T,T) of head row bh after attention dropout: kept elements
    /// times 1/(1-p), dropped ones and those above the diagonal 0. Element (i,j) is mask element (bh*T + i)*T + j,
    /// as in the kernels. Returns weights.
    /// </summary>
    static T* DroppedWeights(T* weights, T* probs, int t, DropoutSpec spec, int bh)
    {
        T scale = T.One / T.CreateTruncating(1.0 - spec.P);
        for (int i = 0; i < t; i++)
        {
            T* src = probs + (long)i * t, dst = weights + (long)i * t;
            long first = ((long)bh * t + i) * t;
            for (int j = 0; j <= i; j++)
            {
                uint word = Philox.Word(spec.Seed, spec.Stream, RandomDomain.Dropout, (ulong)(first + j));
                dst[j] = Philox.ToUnitFloat(word) < spec.P ? T.Zero : src[j] * scale;
            }
            new Span<T>(dst + i + 1, t - i - 1).Clear();
        }
        return weights;
    }

    /// <summary>The CPU keeps the probabilities themselves (B,H,T,T): its backward multiplies by them directly.</summary>
    public long AttentionSavedLength(int b, int t, int heads) => (long)b * heads * t * t;

    public void AttentionProbabilities(Buf<T> probs, Buf<T> scores, Buf<T> qkv, AttentionOptions options, int b, int t, int c, int heads)
    {
        CheckSize(probs, (long)b * heads * t * t, "probs");
        Scores(scores.IsEmpty ? probs : scores, qkv, options, b, t, c, heads);
        if (!scores.IsEmpty) Copy(scores, probs);
        Softmax(probs, b, t, heads);
    }

    static void Copy(Buf<T> from, Buf<T> to) => from.Span.CopyTo(to.Span);

    /// <summary>The score scale 1/sqrt(dh) times 1/temperature (exact at temperature 1).</summary>
    static T ScoreScale(int dh, AttentionOptions options) => T.One / T.Sqrt(T.CreateTruncating(dh)) * T.CreateTruncating(options.InverseTemperature);

    /// <summary>scores (B,H,T,T) = (q.k / sqrt(dh) - ALiBi) / temperature, block-causal; 0 above the diagonal.</summary>
    static void Scores(Buf<T> scores, Buf<T> qkv, AttentionOptions options, int b, int t, int c, int heads)
    {
        int dh = c / heads;
        T scale = ScoreScale(dh, options);
        bool alibi = options.Alibi;
        double[] slopes = alibi ? AlibiSlopes(heads).Select(s => s * options.InverseTemperature).ToArray() : [];
        Parallel.For(0, b * heads, bh =>
        {
            int bi = bh / heads, h = bh % heads;
            T* q = qkv.Ptr + (long)bi * t * 3 * c + h * dh, k = q + c;
            T* p = scores.Ptr + (long)bh * t * t;
            for (int i0 = 0; i0 < t; i0 += CausalBlock)
            {
                int i1 = Math.Min(t, i0 + CausalBlock);
                Gemm<T>.Multiply(false, true, i1 - i0, i1, dh, q + (long)i0 * 3 * c, 3 * c, k, 3 * c, p + (long)i0 * t, t, false, parallel: false);
            }
            for (int i = 0; i < t; i++)
            {
                var row = new Span<T>(p + (long)i * t, i + 1);
                TensorPrimitives.Multiply(row, scale, row);
                if (alibi)
                    for (int j = 0; j <= i; j++) row[j] -= T.CreateTruncating(slopes[h] * (i - j));
                new Span<T>(p + (long)i * t + i + 1, t - i - 1).Clear();
            }
        });
    }

    /// <summary>Row-wise causal softmax of (B,H,T,T) in place.</summary>
    static void Softmax(Buf<T> p, int b, int t, int heads) =>
        Parallel.For(0, b * heads, bh =>
        {
            for (int i = 0; i < t; i++)
            {
                var row = new Span<T>(p.Ptr + ((long)bh * t + i) * t, i + 1);
                TensorPrimitives.Subtract(row, TensorPrimitives.Max<T>(row), row);
                TensorPrimitives.Exp<T>(row, row);
                TensorPrimitives.Multiply(row, T.One / TensorPrimitives.Sum<T>(row), row);
            }
        });

    public void AttentionForward(Buf<T> output, Buf<T> probs, Buf<T> qkv, AttentionOptions options, int b, int t, int c, int heads)
    {
        CheckSize(probs, (long)b * heads * t * t, "probs");
        Scores(probs, qkv, options, b, t, c, heads);
        Softmax(probs, b, t, heads);
        int dh = c / heads;
        Parallel.For(0, b * heads, bh =>
        {
            int bi = bh / heads, h = bh % heads;
            T* v = qkv.Ptr + (long)bi * t * 3 * c + h * dh + 2 * c;
            T* p = probs.Ptr + (long)bh * t * t;
            var dropped = Scratch(ref t_scratch1, options.Dropout.Active ? (long)t * t : 1);
            fixed (T* d = dropped)
            {
                T* weights = options.Dropout.Active ? DroppedWeights(d, p, t, options.Dropout, bh) : p;
                // y (T,dh) = weights v, block-causal
                T* y = output.Ptr + (long)bi * t * c + h * dh;
                for (int i0 = 0; i0 < t; i0 += CausalBlock)
                {
                    int i1 = Math.Min(t, i0 + CausalBlock);
                    Gemm<T>.Multiply(false, false, i1 - i0, dh, i1, weights + (long)i0 * t, t, v, 3 * c, y + (long)i0 * c, c, false, parallel: false);
                }
            }
        });
    }

    public void AttentionBackward(Buf<T> dqkv, Buf<T> doutput, Buf<T> qkv, Buf<T> output, Buf<T> probs, T entropyScale,
        AttentionOptions options, int b, int t, int c, int heads)
    {
        int dh = c / heads;
        T scale = ScoreScale(dh, options);
        T dropScale = options.Dropout.Active ? T.One / T.CreateTruncating(1.0 - options.Dropout.P) : T.One;
        Parallel.For(0, b * heads, bh =>
        {
            int bi = bh / heads, h = bh % heads;
            long rowBase = (long)bi * t * 3 * c + h * dh;
            T* q = qkv.Ptr + rowBase, k = q + c, v = q + 2 * c;
            T* dq = dqkv.Ptr + rowBase, dk = dq + c, dv = dq + 2 * c;
            T* p = probs.Ptr + (long)bh * t * t;
            T* dy = doutput.Ptr + (long)bi * t * c + h * dh;
            var s1 = Scratch(ref t_scratch1, (long)t * t);
            var s2 = Scratch(ref t_scratch2, (long)t * t);
            fixed (T* dropped = s1, dp = s2)
            {
                T* weights = options.Dropout.Active ? DroppedWeights(dropped, p, t, options.Dropout, bh) : p;
                // dV (T,dh) = weights^T dY, block-causal: keys [j0, j1) only receive from queries i >= j0
                for (int j0 = 0; j0 < t; j0 += CausalBlock)
                {
                    int j1 = Math.Min(t, j0 + CausalBlock);
                    Gemm<T>.Multiply(true, false, j1 - j0, dh, t - j0, weights + (long)j0 * t + j0, t, dy + (long)j0 * c, c,
                        dv + (long)j0 * 3 * c, 3 * c, false, parallel: false);
                }
                // dWeights (T,T) = dY V^T, block-causal
                for (int i0 = 0; i0 < t; i0 += CausalBlock)
                {
                    int i1 = Math.Min(t, i0 + CausalBlock);
                    Gemm<T>.Multiply(false, true, i1 - i0, i1, dh, dy + (long)i0 * c, c, v, 3 * c, dp + (long)i0 * t, t, false, parallel: false);
                }
                for (int i = 0; i < t; i++)
                {
                    T* prow = p + (long)i * t, drow = dp + (long)i * t;
                    if (options.Dropout.Active)
                    {
                        // d p = d weights * keep / (1-p): weights[j] != 0 exactly where kept (p > 0), so reuse it
                        T* wrow = weights + (long)i * t;
                        for (int j = 0; j <= i; j++) drow[j] = wrow[j] == T.Zero ? T.Zero : drow[j] * dropScale;
                    }
                    if (entropyScale != T.Zero)
                        for (int j = 0; j <= i; j++)
                            if (prow[j] > T.Zero) drow[j] -= entropyScale * (T.Log(prow[j]) + T.One);
                    // dS = P (dP - <P, dP>) scaled by 1/(sqrt(dh) temperature)
                    var pr = new ReadOnlySpan<T>(prow, i + 1);
                    var dr = new Span<T>(drow, i + 1);
                    T dot = TensorPrimitives.Dot(pr, dr);
                    TensorPrimitives.Subtract(dr, dot, dr);
                    TensorPrimitives.Multiply(dr, pr, dr);
                    TensorPrimitives.Multiply(dr, scale, dr);
                    new Span<T>(drow + i + 1, t - i - 1).Clear();
                }
                // dQ = dS K, dK = dS^T Q (dS already holds the 1/sqrt(dh) scale)
                for (int i0 = 0; i0 < t; i0 += CausalBlock)
                {
                    int i1 = Math.Min(t, i0 + CausalBlock);
                    Gemm<T>.Multiply(false, false, i1 - i0, dh, i1, dp + (long)i0 * t, t, k, 3 * c, dq + (long)i0 * 3 * c, 3 * c, false, parallel: false);
                }
                for (int j0 = 0; j0 < t; j0 += CausalBlock)
                {
                    int j1 = Math.Min(t, j0 + CausalBlock);
                    Gemm<T>.Multiply(true, false, j1 - j0, dh, t - j0, dp + (long)j0 * t + j0, t, q + (long)j0 * 3 * c, 3 * c,
                        dk + (long)j0 * 3 * c, 3 * c, false, parallel: false);
                }
            }
        });
    }

    public void AttentionEntropyForward(Buf<T> output, Buf<T> probs, int b, int t, int heads)
    {
        int rows = b * heads;
        var partial = new T[rows];
        Parallel.For(0, rows, bh =>
        {
            T sum = T.Zero;
            T* p = probs.Ptr + (long)bh * t * t;
            for (int i = 0; i < t; i++)
                for (int j = 0; j <= i; j++)
                {
                    T x = p[(long)i * t + j];
                    if (x > T.Zero) sum -= x * T.Log(x);
                }
            partial[bh] = sum;
        });
        T total = T.Zero;
        foreach (var v in partial) total += v;
        output.Ptr[0] = total;
    }
}
