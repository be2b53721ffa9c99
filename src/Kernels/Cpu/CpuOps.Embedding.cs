using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Cpu;

public sealed unsafe partial class CpuOps<T>
{
    public void EmbeddingForward(Buf<T> output, Buf<int> tokens, Buf<T> table, int n, int c)
    {
        long v = table.Length / c;
        for (long i = 0; i < n; i++)
            if ((uint)tokens.Ptr[i] >= v)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token {tokens.Ptr[i]} at row {i} outside the vocabulary of {v}");
        ForChunks(n, RowChunk, (s, e) =>
        {
            for (long i = s; i < e; i++)
            {
                int token = tokens.Ptr[i];
                new ReadOnlySpan<T>(table.Ptr + (long)token * c, c).CopyTo(new Span<T>(output.Ptr + i * c, c));
            }
        });
    }

    /// <summary>Token rows per chunk of the embedding backward: kernels.cu's EMBEDDING_CHUNK_ROWS, so the twin adds in the kernels' order.</summary>
    const int EmbeddingChunkRows = 256;

    /// <summary>
    /// dtable (V,C) += doutput (N,C) scattered by tokens (N), in the kernels' order (embedding_backward_partial, _reduce):
    /// per element, the rows of each chunk of EmbeddingChunkRows tokens added in order into the chunk's partial sum (from
    /// 0), the chunks' sums added in order (from 0), the total added to dtable. A task per column chunk, one pass over
    /// doutput; tokens outside the vocabulary contribute nothing.
    /// </summary>
    public void EmbeddingBackward(Buf<T> dtable, Buf<T> doutput, Buf<int> tokens, int n, int v, int c)
    {
        const int ColumnChunk = 64;
        nint table = (nint)dtable.Ptr, source = (nint)doutput.Ptr, ids = (nint)tokens.Ptr;
        Parallel.For(0, (c + ColumnChunk - 1) / ColumnChunk, task =>
        {
            int c0 = task * ColumnChunk, w = Math.Min(c, c0 + ColumnChunk) - c0;
            // (V, w) each: this chunk of rows' sums, and the sum of the chunks so far
            var partial = new T[v * w];
            var total = new T[v * w];
            for (long first = 0; first < n; first += EmbeddingChunkRows)
            {
                Array.Clear(partial);
                for (long i = first; i < Math.Min(n, first + EmbeddingChunkRows); i++)
                {
                    int token = ((int*)ids)[i];
                    if ((uint)token >= (uint)v) continue;
                    var dst = partial.AsSpan(token * w, w);
                    System.Numerics.Tensors.TensorPrimitives.Add<T>(dst, new ReadOnlySpan<T>((T*)source + i * c + c0, w), dst);
                }
                System.Numerics.Tensors.TensorPrimitives.Add<T>(total, partial, total);
            }
            for (int row = 0; row < v; row++)
            {
                var dst = new Span<T>((T*)table + (long)row * c + c0, w);
                System.Numerics.Tensors.TensorPrimitives.Add<T>(dst, total.AsSpan(row * w, w), dst);
            }
        });
    }

    /// <summary>
    /// dtable (V, width) += for each row i of doutput (N, stride at least width), its first width columns into row tokens[i].
    /// Each column chunk is owned by one task, which adds the rows in order: no atomics, deterministic, one pass over
    /// doutput. Tokens outside the vocabulary contribute nothing.
    /// </summary>
    static void TokenRowSums(T* dtable, int width, T* doutput, int stride, int* tokens, int n, int v)
    {
        const int ColumnChunk = 64;
        nint table = (nint)dtable, source = (nint)doutput, ids = (nint)tokens;
        Parallel.For(0, (width + ColumnChunk - 1) / ColumnChunk, task =>
        {
            int c0 = task * ColumnChunk, w = Math.Min(width, c0 + ColumnChunk) - c0;
            for (long i = 0; i < n; i++)
            {
                int token = ((int*)ids)[i];
                if ((uint)token >= (uint)v) continue;
                var dst = new Span<T>((T*)table + (long)token * width + c0, w);
                System.Numerics.Tensors.TensorPrimitives.Add<T>(dst, new ReadOnlySpan<T>((T*)source + i * stride + c0, w), dst);
            }
        });
    }

    public void PositionAddForward(Buf<T> x, Buf<T> table, T scale, int b, int t, int c)
    {
        if (table.Length < (long)t * c) throw new ArgumentException($"position table has {table.Length / c} rows, sequence length is {t}");
        ForChunks((long)b * t, RowChunk, (s, e) =>
        {
            for (long row = s; row < e; row++)
            {
                var dst = new Span<T>(x.Ptr + row * c, c);
                System.Numerics.Tensors.TensorPrimitives.MultiplyAdd<T>(new ReadOnlySpan<T>(table.Ptr + row % t * c, c), scale, dst, dst);
            }
        });
    }

    public void PositionAddBackward(Buf<T> dtable, Buf<T> dx, T scale, int b, int t, int c)
    {
        ForChunks(t, 8, (s, e) =>
        {
            for (long pos = s; pos < e; pos++)
            {
                var dst = new Span<T>(dtable.Ptr + pos * c, c);
                for (int bi = 0; bi < b; bi++)
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd<T>(new ReadOnlySpan<T>(dx.Ptr + ((long)bi * t + pos) * c, c), scale, dst, dst);
            }
        });
    }

    public void SinusoidalTable(Buf<T> table, int t, int c)
    {
        int half = c / 2;
        for (int pos = 0; pos < t; pos++)
        {
            T* row = table.Ptr + (long)pos * c;
            for (int i = 0; i < half; i++)
            {
                double angle = pos * Math.Pow(10000.0, -(double)i / half);
                row[i] = Of(Math.Sin(angle));
                row[half + i] = Of(Math.Cos(angle));
            }
            if (c % 2 == 1) row[c - 1] = T.Zero;
        }
    }

    public void PositionScaleForward(Buf<T> x, Buf<T> table, Buf<T> scale, int b, int t, int c) =>
        PositionAddForward(x, table, scale.Ptr[0], b, t, c);

    public void PositionScaleBackward(Buf<T> dscale, Buf<T> dx, Buf<T> table, int b, int t, int c)
    {
        // per chunk of positions: sum over its positions, the batch and the channels; chunks added in order
        const int PositionChunk = 8;
        var partial = new T[Math.Max(1, Chunks(t, PositionChunk))];
        ForChunks(t, PositionChunk, (s, e) =>
        {
            T sum = T.Zero;
            for (long pos = s; pos < e; pos++)
            {
                T* row = table.Ptr + pos * c;
                for (int bi = 0; bi < b; bi++)
                {
                    T* src = dx.Ptr + ((long)bi * t + pos) * c;
                    for (int j = 0; j < c; j++) sum += src[j] * row[j];
                }
            }
            partial[s / PositionChunk] = sum;
        });
        T total = T.Zero;
        foreach (var v in partial) total += v;
        dscale.Ptr[0] += total;
    }

    public void LinearPositionForward(Buf<T> x, T divisor, int b, int t, int c)
    {
        for (long row = 0; row < (long)b * t; row++)
            x.Ptr[row * c + c - 1] += T.CreateTruncating(row % t) / divisor;
    }

    public void LinearPositionEmbeddingForward(Buf<T> output, Buf<int> tokens, Buf<T> table, T divisor, int b, int t, int c)
    {
        int e = c - 1;
        long n = (long)b * t, v = table.Length / e;
        for (long i = 0; i < n; i++)
            if ((uint)tokens.Ptr[i] >= v)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token {tokens.Ptr[i]} at row {i} outside the vocabulary of {v}");
        ForChunks(n, RowChunk, (s, end) =>
        {
            for (long row = s; row < end; row++)
            {
                new ReadOnlySpan<T>(table.Ptr + (long)tokens.Ptr[row] * e, e).CopyTo(new Span<T>(output.Ptr + row * c, e));
                output.Ptr[row * c + e] = T.CreateTruncating(row % t) / divisor;
            }
        });
    }

    // as EmbeddingBackward over the first C-1 columns of each row of doutput
    public void LinearPositionEmbeddingBackward(Buf<T> dtable, Buf<T> doutput, Buf<int> tokens, int n, int v, int c) =>
        TokenRowSums(dtable.Ptr, c - 1, doutput.Ptr, c, tokens.Ptr, n, v);

    public void RopeForward(Buf<T> qkv, int b, int t, int c, int heads, int rotaryDim, bool rotateValues) =>
        Rope(qkv, b, t, c, heads, rotaryDim, rotateValues, sign: 1);

    public void RopeBackward(Buf<T> dqkv, int b, int t, int c, int heads, int rotaryDim, bool rotateValues) =>
        Rope(dqkv, b, t, c, heads, rotaryDim, rotateValues, sign: -1);

    // Over the first rot dims of a head: x' = x cos + rotate_half(x) sin with rotate_half(x) = (-x2, x1), x1 and x2 the
    // halves of those dims; the rest passes through. The backward is the rotation by -angle.
    static void Rope(Buf<T> qkv, int b, int t, int c, int heads, int rot, bool values, int sign)
    {
        int dh = c / heads, half = rot / 2, parts = values ? 3 : 2;
        if (rot < 2 || rot % 2 != 0 || rot > dh) throw new ArgumentException($"rotary dimension {rot} must be even and in 2..{dh}");
        var cos = new T[(long)t * half];
        var sin = new T[(long)t * half];
        for (int pos = 0; pos < t; pos++)
            for (int i = 0; i < half; i++)
            {
                double angle = pos * Math.Pow(10000.0, -2.0 * i / rot);
                cos[pos * half + i] = Of(Math.Cos(angle));
                sin[pos * half + i] = Of(sign * Math.Sin(angle));
            }
        ForChunks((long)b * t, RowChunk, (s, e) =>
        {
            for (long row = s; row < e; row++)
            {
                int pos = (int)(row % t);
                for (int part = 0; part < parts; part++) // q, k, then v
                    for (int h = 0; h < heads; h++)
                    {
                        T* x = qkv.Ptr + row * 3 * c + part * c + h * dh;
                        for (int i = 0; i < half; i++)
                        {
                            T co = cos[pos * half + i], si = sin[pos * half + i];
                            T x1 = x[i], x2 = x[i + half];
                            x[i] = x1 * co - x2 * si;
                            x[i + half] = x2 * co + x1 * si;
                        }
                    }
            }
        });
    }
}
