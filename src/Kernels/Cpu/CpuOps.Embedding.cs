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

    public void EmbeddingBackward(Buf<T> dtable, Buf<T> doutput, Buf<int> tokens, int n, int v, int c)
    {
        // Each (vocabulary row, column chunk) is owned by one task and sums rows in order: no atomics, deterministic.
        const int ColumnChunk = 64;
        int columnChunks = (c + ColumnChunk - 1) / ColumnChunk;
        Parallel.For(0, v * columnChunks, task =>
        {
            int row = task / columnChunks, c0 = task % columnChunks * ColumnChunk, c1 = Math.Min(c, c0 + ColumnChunk);
            T* dst = dtable.Ptr + (long)row * c;
            for (long i = 0; i < n; i++)
            {
                if (tokens.Ptr[i] != row) continue;
                T* src = doutput.Ptr + i * c;
                for (int j = c0; j < c1; j++) dst[j] += src[j];
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
                T* dst = x.Ptr + row * c, src = table.Ptr + row % t * c;
                for (int j = 0; j < c; j++) dst[j] += scale * src[j];
            }
        });
    }

    public void PositionAddBackward(Buf<T> dtable, Buf<T> dx, T scale, int b, int t, int c)
    {
        ForChunks(t, 8, (s, e) =>
        {
            for (long pos = s; pos < e; pos++)
            {
                T* dst = dtable.Ptr + pos * c;
                for (int bi = 0; bi < b; bi++)
                {
                    T* src = dx.Ptr + ((long)bi * t + pos) * c;
                    for (int j = 0; j < c; j++) dst[j] += scale * src[j];
                }
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

    public void LinearPositionForward(Buf<T> x, T divisor, int b, int t, int c)
    {
        for (long row = 0; row < (long)b * t; row++)
            x.Ptr[row * c + c - 1] += T.CreateTruncating(row % t) / divisor;
    }

    public void RopeForward(Buf<T> qkv, int b, int t, int c, int heads) => Rope(qkv, b, t, c, heads, sign: 1);

    public void RopeBackward(Buf<T> dqkv, int b, int t, int c, int heads) => Rope(dqkv, b, t, c, heads, sign: -1);

    // x' = x cos + rotate_half(x) sin with rotate_half(x) = (-x2, x1); the backward is the rotation by -angle.
    static void Rope(Buf<T> qkv, int b, int t, int c, int heads, int sign)
    {
        int dh = c / heads, half = dh / 2;
        var cos = new T[(long)t * half];
        var sin = new T[(long)t * half];
        for (int pos = 0; pos < t; pos++)
            for (int i = 0; i < half; i++)
            {
                double angle = pos * Math.Pow(10000.0, -2.0 * i / dh);
                cos[pos * half + i] = Of(Math.Cos(angle));
                sin[pos * half + i] = Of(sign * Math.Sin(angle));
            }
        ForChunks((long)b * t, RowChunk, (s, e) =>
        {
            for (long row = s; row < e; row++)
            {
                int pos = (int)(row % t);
                for (int part = 0; part < 2; part++) // q, then k
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
