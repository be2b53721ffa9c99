using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

/// <summary>
/// Causal attention FlashAttention-2 style, like the kernels: (CausalBlock x CausalBlock) tiles of queries and keys,
/// an online softmax in the forward, probabilities recomputed from the saved logsumexp in the backward; no T x T
/// matrix. One task per (batch, head) does all of that head's work in a fixed order, so results do not depend on
/// the core count.
/// </summary>
public sealed unsafe partial class CpuOps<T>
{
    /// <summary>What every head of one call shares: sizes, padded sizes, the score scale and slopes, dropout.</summary>
    readonly struct Flash
    {
        public readonly int Tokens, Channels, Heads, HeadDim;
        /// <summary>The head dimension rounded up to whole register blocks, and the tokens to whole key blocks.</summary>
        public readonly int PaddedDim, PaddedTokens;
        /// <summary>1/sqrt(dh) times 1/temperature.</summary>
        public readonly T Scale;
        /// <summary>Slopes (H) times 1/temperature; zeros without ALiBi.</summary>
        public readonly T[] Slopes;
        public readonly DropoutSpec Dropout;

        public Flash(int t, int c, int heads, AttentionOptions options)
        {
            Tokens = t; Channels = c; Heads = heads; HeadDim = c / heads;
            PaddedDim = (HeadDim + PanelCols - 1) / PanelCols * PanelCols;
            PaddedTokens = (t + CausalBlock - 1) / CausalBlock * CausalBlock;
            Scale = ScoreScale(HeadDim, options);
            Slopes = options.Alibi ? [.. AlibiSlopes(heads).Select(s => T.CreateTruncating(s * options.InverseTemperature))] : new T[heads];
            Dropout = options.Dropout;
        }
    }

    /// <summary>
    /// dst (tp/Bk, dh, Bk) = src (t, dh) (row stride ld) transposed per key block, zero past key t: a block's
    /// keys are the contiguous rows of the scores' B operand (a whole-matrix transpose's row stride thrashes L1).
    /// </summary>
    static void TransposeBlocks(T* dst, T* src, nint ld, int t, int dh, int tp)
    {
        const int Bk = CausalBlock;
        int j = 0;
        if (typeof(T) == typeof(float) && Avx.IsSupported && dh % 8 == 0)
            for (; j + 8 <= t; j += 8)
            {
                T* tile = dst + (nint)(j / Bk) * dh * Bk + j % Bk;
                for (int d = 0; d < dh; d += 8) Transpose8x8((float*)(src + j * ld + d), ld, (float*)(tile + d * Bk), Bk);
            }
        for (; j < tp; j++)
        {
            T* tile = dst + (nint)(j / Bk) * dh * Bk + j % Bk;
            for (int d = 0; d < dh; d++) tile[d * Bk] = j < t ? src[j * ld + d] : T.Zero;
        }
    }

    /// <summary>dst (8, 8) (row stride ldDst) = src (8, 8) (row stride ldSrc) transposed, in registers.</summary>
    static void Transpose8x8(float* src, nint ldSrc, float* dst, nint ldDst)
    {
        var r0 = Avx.LoadVector256(src); var r1 = Avx.LoadVector256(src + ldSrc);
        var r2 = Avx.LoadVector256(src + 2 * ldSrc); var r3 = Avx.LoadVector256(src + 3 * ldSrc);
        var r4 = Avx.LoadVector256(src + 4 * ldSrc); var r5 = Avx.LoadVector256(src + 5 * ldSrc);
        var r6 = Avx.LoadVector256(src + 6 * ldSrc); var r7 = Avx.LoadVector256(src + 7 * ldSrc);
        // interleave pairs of rows, then pairs of pairs (within 128-bit lanes), then swap the lanes
        var t0 = Avx.UnpackLow(r0, r1); var t1 = Avx.UnpackHigh(r0, r1);
        var t2 = Avx.UnpackLow(r2, r3); var t3 = Avx.UnpackHigh(r2, r3);
        var t4 = Avx.UnpackLow(r4, r5); var t5 = Avx.UnpackHigh(r4, r5);
        var t6 = Avx.UnpackLow(r6, r7); var t7 = Avx.UnpackHigh(r6, r7);
        var u0 = Avx.Shuffle(t0, t2, 0x44); var u1 = Avx.Shuffle(t0, t2, 0xEE);
        var u2 = Avx.Shuffle(t1, t3, 0x44); var u3 = Avx.Shuffle(t1, t3, 0xEE);
        var u4 = Avx.Shuffle(t4, t6, 0x44); var u5 = Avx.Shuffle(t4, t6, 0xEE);
        var u6 = Avx.Shuffle(t5, t7, 0x44); var u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Store(dst, Avx.Permute2x128(u0, u4, 0x20));
        Avx.Store(dst + ldDst, Avx.Permute2x128(u1, u5, 0x20));
        Avx.Store(dst + 2 * ldDst, Avx.Permute2x128(u2, u6, 0x20));
        Avx.Store(dst + 3 * ldDst, Avx.Permute2x128(u3, u7, 0x20));
        Avx.Store(dst + 4 * ldDst, Avx.Permute2x128(u0, u4, 0x31));
        Avx.Store(dst + 5 * ldDst, Avx.Permute2x128(u1, u5, 0x31));
        Avx.Store(dst + 6 * ldDst, Avx.Permute2x128(u2, u6, 0x31));
        Avx.Store(dst + 7 * ldDst, Avx.Permute2x128(u3, u7, 0x31));
    }

    /// <summary>dst (t, dhp) = src (t, dh) (row stride ld), zero padded: contiguous rows for the B side of the tile products.</summary>
    static void PackRows(T* dst, T* src, nint ld, int t, int dh, int dhp)
    {
        for (int j = 0; j < t; j++)
        {
            new ReadOnlySpan<T>(src + j * ld, dh).CopyTo(new Span<T>(dst + (nint)j * dhp, dh));
            new Span<T>(dst + (nint)j * dhp + dh, dhp - dh).Clear();
        }
    }

    static T MaxOf(Vector256<T> v)
    {
        T m = v[0];
        for (int i = 1; i < Vector256<T>.Count; i++) m = T.MaxNative(m, v[i]);
        return m;
    }

    public void AttentionForward(Buf<T> output, Buf<T> saved, Buf<T> qkv, AttentionOptions options, int b, int t, int c, int heads)
    {
        CheckSize(saved, AttentionSavedLength(b, t, heads), "saved");
        var f = new Flash(t, c, heads, options);
        Parallel.For(0, b * heads, bh => ForwardHead(f, bh, output.Ptr, saved.Ptr, qkv.Ptr));
    }

    /// <summary>One head row bh: output (B,T,C) columns of head h and saved (B,H,T,3) rows of bh, lse and mean score.</summary>
    static void ForwardHead(in Flash f, int bh, T* output, T* saved, T* qkv)
    {
        int t = f.Tokens, c = f.Channels, dh = f.HeadDim, dhp = f.PaddedDim, tp = f.PaddedTokens;
        const int Bk = CausalBlock;
        int bi = bh / f.Heads, h = bh % f.Heads;
        T* q = qkv + (long)bi * t * 3 * c + h * dh, k = q + c, v = q + 2 * c;
        var scratch = Scratch(ref t_attention, (long)dh * tp + 2L * t * dhp + Bk * Bk + Bk * dhp + 4 * Bk);
        fixed (T* at = scratch)
        {
            // kt (tp/Bk, dh, Bk) keys transposed per block, qp, vp (t, dhp), s (Bk, Bk) scores then weights, o (Bk, dhp)
            // unnormalised output; per query row of the block: running max, sum of exp, sum of p*s; keep (Bk) dropout factors
            T* kt = at, qp = kt + (long)dh * tp, vp = qp + (long)t * dhp, s = vp + (long)t * dhp, o = s + Bk * Bk;
            T* rowStats = o + Bk * dhp, rowSum = rowStats + Bk, rowPs = rowSum + Bk, keep = rowPs + Bk;
            TransposeBlocks(kt, k, 3 * c, t, dh, tp);
            PackRows(qp, q, 3 * c, t, dh, dhp);
            PackRows(vp, v, 3 * c, t, dh, dhp);
            for (int i0 = 0; i0 < t; i0 += Bk)
            {
                int m = Math.Min(Bk, t - i0);
                new Span<T>(o, m * dhp).Clear();
                new Span<T>(rowStats, m).Fill(T.NegativeInfinity);
                new Span<T>(rowSum, 2 * Bk).Clear();
                for (int j0 = 0; j0 <= i0; j0 += Bk)
                {
                    bool diagonal = j0 == i0;
                    int nk = diagonal ? m : Bk, n = (nk + PanelCols - 1) / PanelCols * PanelCols;
                    // s (m, n) = q kᵀ of the block (the diagonal block only up to each row's last key)
                    TileProduct(m, n, dh, qp + (nint)i0 * dhp, dhp, 1, kt + (nint)j0 * dh, Bk, s, Bk, false, diagonal ? Causal.ColumnsUpToRow : Causal.None);
                    SoftmaxBlock(f, s, o, rowStats, keep, m, nk, n, diagonal, bh, i0, j0);
                    // o (m, dhp) += weights (m, nk) v (nk, dhp)
                    TileProduct(m, dhp, nk, s, Bk, 1, vp + (nint)j0 * dhp, dhp, o, dhp, true, diagonal ? Causal.ReductionUpToRow : Causal.None);
                }
                for (int r = 0; r < m; r++)
                {
                    int i = i0 + r;
                    T inv = T.One / rowSum[r];
                    TensorPrimitives.Multiply(new ReadOnlySpan<T>(o + r * dhp, dh), inv, new Span<T>(output + ((long)bi * t + i) * c + h * dh, dh));
                    T* st = saved + ((long)bh * t + i) * 3;
                    st[0] = rowStats[r] + T.Log(rowSum[r]);
                    st[1] = rowPs[r] * inv;
                }
            }
        }
    }

    /// <summary>
    /// The online softmax of one (m, nk) block of scores s (m, Bk) of query rows i0.. against keys j0..: s becomes the
    /// weights exp(s - running max) (times the dropout factors), zero past the diagonal up to column n; the running
    /// statistics stats (3, Bk) (max, sum of exp, sum of p*s) and the output accumulator o (m, dhp) are rescaled to the new max.
    /// </summary>
    static void SoftmaxBlock(in Flash f, T* s, T* o, T* stats, T* keep, int m, int nk, int n, bool diagonal, int bh, int i0, int j0)
    {
        const int Bk = CausalBlock;
        int w = Vector256<T>.Count, dhp = f.PaddedDim, t = f.Tokens;
        T slope = f.Slopes[bh % f.Heads];
        bool alibi = slope != T.Zero, dropout = f.Dropout.Active;
        T* rowMax = stats, rowSum = stats + Bk, rowPs = stats + 2 * Bk;
        for (int r = 0; r < m; r++)
        {
            int i = i0 + r, valid = diagonal ? r + 1 : nk;
            T* row = s + r * Bk;
            var vmax = Vector256.Create(T.NegativeInfinity);
            for (int cc = 0; cc < valid; cc += w)
            {
                var x = Vector256.Load(row + cc) * f.Scale;
                if (alibi) x -= slope * (Vector256.Create(T.CreateTruncating(i - j0 - cc)) - Vector256<T>.Indices);
                if (cc + w > valid)
                    x = Vector256.ConditionalSelect(Vector256.LessThan(Vector256<T>.Indices, Vector256.Create(T.CreateTruncating(valid - cc))),
                        x, Vector256.Create(T.NegativeInfinity));
                x.Store(row + cc);
                vmax = Vector256.MaxNative(vmax, x);
            }
            T mOld = rowMax[r], mNew = T.MaxNative(mOld, MaxOf(vmax));
            T correction = Exp(Vector256.Create(mOld - mNew)).GetElement(0); // 0 on the first block (mOld = -inf); a scalar exp call per row costs more
            var mv = Vector256.Create(mNew);
            Vector256<T> sum = default, ps = default;
            if (dropout) KeepFactors(keep, valid, f.Dropout, bh, t, i, j0);
            for (int cc = 0; cc < valid; cc += w)
            {
                var x = Vector256.Load(row + cc);
                var p = Exp(x - mv);
                // masked keys hold -inf: p = 0, and p*s must not become 0*inf
                var px = cc + w > valid
                    ? Vector256.ConditionalSelect(Vector256.Equals(p, Vector256<T>.Zero), Vector256<T>.Zero, p * x)
                    : p * x;
                sum += p;
                ps += px;
                (dropout ? p * Vector256.Load(keep + cc) : p).Store(row + cc);
            }
            // the diagonal block's keys past the row (read by the P V product below) are zero
            int tail = (valid + w - 1) / w * w;
            if (diagonal && tail < n) new Span<T>(row + tail, n - tail).Clear();
            rowMax[r] = mNew;
            rowSum[r] = rowSum[r] * correction + Vector256.Sum(sum);
            rowPs[r] = rowPs[r] * correction + Vector256.Sum(ps);
            if (correction != T.One)
                for (int d = 0; d < dhp; d += w) (Vector256.Load(o + r * dhp + d) * correction).Store(o + r * dhp + d);
        }
    }

    public void AttentionBackward(Buf<T> dqkv, Buf<T> doutput, Buf<T> qkv, Buf<T> output, Buf<T> saved, T entropyScale,
        AttentionOptions options, int b, int t, int c, int heads)
    {
        CheckSize(saved, AttentionSavedLength(b, t, heads), "saved");
        var f = new Flash(t, c, heads, options);
        Parallel.For(0, b * heads, bh => BackwardHead(f, bh, dqkv.Ptr, doutput.Ptr, qkv.Ptr, output.Ptr, saved.Ptr, entropyScale));
    }

    /// <summary>
    /// One head row bh: its dq, dk, dv columns of dqkv (B,T,3C) (overwritten), and D = dO.O into saved (B,H,T,3).
    /// Key blocks outermost: dk, dv of a key block sum its query blocks in order; dq sums key blocks in order.
    /// dS = p (dP kept - D) - entropyScale p (s - mean s), the softmax backward of dP - entropyScale (log p + 1)
    /// (the sharpening regulariser), with log p = s - lse.
    /// </summary>
    static void BackwardHead(in Flash f, int bh, T* dqkv, T* doutput, T* qkv, T* output, T* saved, T entropyScale)
    {
        int t = f.Tokens, c = f.Channels, dh = f.HeadDim, dhp = f.PaddedDim, tp = f.PaddedTokens;
        const int Bk = CausalBlock;
        int bi = bh / f.Heads, h = bh % f.Heads;
        long rowBase = (long)bi * t * 3 * c + h * dh;
        T* q = qkv + rowBase, k = q + c, v = q + 2 * c;
        T* dq = dqkv + rowBase, dk = dq + c, dv = dq + 2 * c;
        T* dout = doutput + (long)bi * t * c + h * dh, o = output + (long)bi * t * c + h * dh;
        T* st = saved + (long)bh * t * 3;
        var scratch = Scratch(ref t_attention, 2L * dh * tp + 4L * t * dhp + 2 * Bk * Bk + 2 * Bk * dhp + Bk);
        fixed (T* at = scratch)
        {
            // kt, vt (tp/Bk, dh, Bk) transposed per key block; qp, kp, dop (t, dhp); dqa (t, dhp) dq accumulator;
            // s (Bk, Bk) scores then kept weights, dp (Bk, Bk) dO vᵀ then dS; dka, dva (Bk, dhp) the key block's dk, dv; keep (Bk)
            T* kt = at, vt = kt + (long)dh * tp, qp = vt + (long)dh * tp, kp = qp + (long)t * dhp, dop = kp + (long)t * dhp;
            T* dqa = dop + (long)t * dhp, s = dqa + (long)t * dhp, dp = s + Bk * Bk, dka = dp + Bk * Bk, dva = dka + Bk * dhp, keep = dva + Bk * dhp;
            TransposeBlocks(kt, k, 3 * c, t, dh, tp);
            TransposeBlocks(vt, v, 3 * c, t, dh, tp);
            PackRows(qp, q, 3 * c, t, dh, dhp);
            PackRows(kp, k, 3 * c, t, dh, dhp);
            PackRows(dop, dout, c, t, dh, dhp);
            new Span<T>(dqa, t * dhp).Clear();
            for (int i = 0; i < t; i++)
                st[i * 3 + 2] = FixedDot(dout + (long)i * c, o + (long)i * c, dh);
            for (int j0 = 0; j0 < t; j0 += Bk)
            {
                int nk = Math.Min(Bk, t - j0), n = (nk + PanelCols - 1) / PanelCols * PanelCols;
                new Span<T>(dka, 2 * Bk * dhp).Clear();
                for (int i0 = j0; i0 < t; i0 += Bk)
                {
                    bool diagonal = i0 == j0;
                    int m = Math.Min(Bk, t - i0);
                    var columns = diagonal ? Causal.ColumnsUpToRow : Causal.None;
                    // s (m, n) = q kᵀ, dp (m, n) = dO vᵀ of the block
                    TileProduct(m, n, dh, qp + (nint)i0 * dhp, dhp, 1, kt + (nint)j0 * dh, Bk, s, Bk, false, columns);
                    TileProduct(m, n, dh, dop + (nint)i0 * dhp, dhp, 1, vt + (nint)j0 * dh, Bk, dp, Bk, false, columns);
                    GradientBlock(f, s, dp, st, keep, entropyScale, m, nk, n, diagonal, bh, i0, j0);
                    // dva (nk, dhp) += weightsᵀ dO, dka (nk, dhp) += dSᵀ q, dqa (m, dhp) += dS k
                    var fromRow = diagonal ? Causal.ReductionFromRow : Causal.None;
                    TileProduct(nk, dhp, m, s, 1, Bk, dop + (nint)i0 * dhp, dhp, dva, dhp, true, fromRow);
                    TileProduct(nk, dhp, m, dp, 1, Bk, qp + (nint)i0 * dhp, dhp, dka, dhp, true, fromRow);
                    TileProduct(m, dhp, nk, dp, Bk, 1, kp + (nint)j0 * dhp, dhp, dqa + (nint)i0 * dhp, dhp, true,
                        diagonal ? Causal.ReductionUpToRow : Causal.None);
                }
                for (int r = 0; r < nk; r++)
                {
                    long row = (long)(j0 + r) * 3 * c;
                    new ReadOnlySpan<T>(dka + r * dhp, dh).CopyTo(new Span<T>(dk + row, dh));
                    new ReadOnlySpan<T>(dva + r * dhp, dh).CopyTo(new Span<T>(dv + row, dh));
                }
            }
            for (int i = 0; i < t; i++)
                new ReadOnlySpan<T>(dqa + (long)i * dhp, dh).CopyTo(new Span<T>(dq + (long)i * 3 * c, dh));
        }
    }

    /// <summary>
    /// The softmax backward of one (m, nk) block of query rows i0.. against keys j0..: s (m, Bk) holds the block's q kᵀ,
    /// dp (m, Bk) its dO vᵀ; s becomes the kept weights p (times the dropout factors) and dp becomes dS (with the score
    /// scale), both zero past the diagonal up to column n. st (T, 3) is the head's saved lse, mean score, D.
    /// </summary>
    static void GradientBlock(in Flash f, T* s, T* dp, T* st, T* keep, T entropyScale, int m, int nk, int n, bool diagonal, int bh, int i0, int j0)
    {
        const int Bk = CausalBlock;
        int w = Vector256<T>.Count, t = f.Tokens;
        T slope = f.Slopes[bh % f.Heads];
        bool alibi = slope != T.Zero, dropout = f.Dropout.Active, sharpen = entropyScale != T.Zero;
        var scale = Vector256.Create(f.Scale);
        for (int r = 0; r < m; r++)
        {
            int i = i0 + r, valid = diagonal ? r + 1 : nk;
            T* srow = s + r * Bk, dprow = dp + r * Bk;
            var lse = Vector256.Create(st[i * 3]);
            var mean = Vector256.Create(st[i * 3 + 1]);
            var dRow = Vector256.Create(st[i * 3 + 2]);
            var sharpening = Vector256.Create(entropyScale);
            if (dropout) KeepFactors(keep, valid, f.Dropout, bh, t, i, j0);
            for (int cc = 0; cc < valid; cc += w)
            {
                var x = Vector256.Load(srow + cc) * scale;
                if (alibi) x -= slope * (Vector256.Create(T.CreateTruncating(i - j0 - cc)) - Vector256<T>.Indices);
                var p = Exp(x - lse);
                var dpv = Vector256.Load(dprow + cc);
                var kept = dropout ? Vector256.Load(keep + cc) : Vector256<T>.One;
                var ds = p * (dpv * kept - dRow);
                if (sharpen) ds -= sharpening * p * (x - mean);
                ds *= scale;
                var pd = p * kept;
                if (cc + w > valid)
                {
                    var inside = Vector256.LessThan(Vector256<T>.Indices, Vector256.Create(T.CreateTruncating(valid - cc)));
                    ds = Vector256.ConditionalSelect(inside, ds, Vector256<T>.Zero);
                    pd = Vector256.ConditionalSelect(inside, pd, Vector256<T>.Zero);
                }
                pd.Store(srow + cc);
                ds.Store(dprow + cc);
            }
            // the diagonal block's keys past the row (read by the products below) are zero
            int tail = (valid + w - 1) / w * w;
            if (diagonal && tail < n)
            {
                new Span<T>(srow + tail, n - tail).Clear();
                new Span<T>(dprow + tail, n - tail).Clear();
            }
        }
    }

    /// <summary>output (1) = sum over the B*H*T rows of the entropy lse - mean score, from saved (B,H,T,3), in row order per head.</summary>
    public void AttentionEntropyForward(Buf<T> output, Buf<T> saved, int b, int t, int heads)
    {
        int rows = b * heads;
        var partial = new T[rows];
        Parallel.For(0, rows, bh =>
        {
            T sum = T.Zero;
            T* st = saved.Ptr + (long)bh * t * 3;
            for (int i = 0; i < t; i++) sum += st[i * 3] - st[i * 3 + 1];
            partial[bh] = sum;
        });
        T total = T.Zero;
        foreach (var v in partial) total += v;
        output.Ptr[0] = total;
    }
}
