using System.Numerics.Tensors;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

public sealed unsafe partial class CpuOps<T>
{
    /// <summary>Per-thread tiles of the flash attention, grown on demand (pinned: the ops use raw pointers).</summary>
    [ThreadStatic] static T[]? t_attention;

    /// <summary>Query rows and keys per block: query block r meets key blocks 0..r only.</summary>
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
    /// saved (B,H,T,3) per row, as on the GPU: logsumexp of the scores, the mean score under the softmax (the row
    /// entropy is their difference), and D = dO.O (filled by the backward). The backward recomputes the probabilities.
    /// </summary>
    public long AttentionSavedLength(int b, int t, int heads) => (long)b * heads * t * 3;

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
                TensorPrimitives.Multiply(row, T.One / FixedSum(p.Ptr + ((long)bh * t + i) * t, i + 1), row);
            }
        });
}
