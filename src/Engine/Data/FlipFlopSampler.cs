using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Engine.Data;

/// <summary>
/// Samples FFL(T, p) sequences. Sequence k of a stream is a pure function of (seed, domain, k, T, mixture):
/// <list type="number">
/// <item>draw the word stream w[0..T) = <see cref="Philox.Fill"/>(seed, stream: k, domain);</item>
/// <item>the mixture component is floor(w[0] * n / 2^32) for n components (w[0] is otherwise unused, because
/// the first instruction is always w);</item>
/// <item>pair j (tokens 2j, 2j+1) has instruction w for j = 0, r for j = T/2 - 1, and otherwise w if
/// w[2j] &lt; floor(p_w 2^32), r if w[2j] &lt; floor((p_w + p_r) 2^32), i otherwise;</item>
/// <item>its bit is the last written bit after r, and w[2j+1] &amp; 1 after w and i.</item>
/// </list>
/// Because every sequence is computed from its own counter, sets can be generated in parallel or in
/// shards, in any order, and are the same on every machine.
/// </summary>
public sealed class FlipFlopSampler
{
    readonly FlipFlopMixture _mixture;
    readonly ulong[] _writeBelow, _readBelow;

    public FlipFlopSampler(FlipFlopMixture mixture)
    {
        if (mixture.Components.Count == 0) throw new ArgumentException("a mixture needs at least one component");
        _mixture = mixture;
        _writeBelow = mixture.Components.Select(d => Philox.Threshold(d.PWrite)).ToArray();
        _readBelow = mixture.Components.Select(d => Philox.Threshold(d.PWrite + d.PRead)).ToArray();
    }

    public FlipFlopSampler(FlipFlopDistribution distribution) : this(FlipFlopMixture.Of(distribution)) { }

    public FlipFlopMixture Mixture => _mixture;

    public static void CheckLength(int length)
    {
        if (length < 4 || length % 2 != 0)
            throw new ArgumentException($"sequence length must be even and at least 4, got {length}");
    }

    /// <summary>Writes sequence <paramref name="index"/> of stream (seed, domain) into <paramref name="tokens"/> (length T).</summary>
    public void Sample(ulong seed, uint domain, long index, Span<byte> tokens)
    {
        int length = tokens.Length;
        CheckLength(length);
        Span<uint> words = length <= 4096 ? stackalloc uint[length] : new uint[length];
        Philox.Fill(seed, (ulong)index, domain, words);

        int component = (int)(((ulong)words[0] * (ulong)_writeBelow.Length) >> 32);
        ulong writeBelow = _writeBelow[component], readBelow = _readBelow[component];

        int pairs = length / 2;
        byte lastWritten = Tokens.Zero;
        for (int j = 0; j < pairs; j++)
        {
            byte instruction;
            if (j == 0) instruction = Tokens.Write;
            else if (j == pairs - 1) instruction = Tokens.Read;
            else
            {
                uint u = words[2 * j];
                instruction = u < writeBelow ? Tokens.Write : u < readBelow ? Tokens.Read : Tokens.Ignore;
            }
            byte bit = instruction == Tokens.Read ? lastWritten : Tokens.Bit((int)(words[2 * j + 1] & 1));
            if (instruction == Tokens.Write) lastWritten = bit;
            tokens[2 * j] = instruction;
            tokens[2 * j + 1] = bit;
        }
    }

    /// <summary>Sequences firstIndex .. firstIndex + count - 1 of stream (seed, domain), generated in parallel.</summary>
    public FlipFlopDataset SampleMany(ulong seed, uint domain, long firstIndex, int count, int length)
    {
        CheckLength(length);
        var dataset = new FlipFlopDataset(count, length);
        SampleInto(seed, domain, firstIndex, dataset.Tokens, length);
        return dataset;
    }

    /// <summary>Fills <paramref name="tokens"/> (count x length) with consecutive sequences starting at firstIndex.</summary>
    public void SampleInto(ulong seed, uint domain, long firstIndex, Memory<byte> tokens, int length)
    {
        CheckLength(length);
        int count = tokens.Length / length;
        const int chunk = 256;
        int chunks = (count + chunk - 1) / chunk;
        if (chunks <= 1)
        {
            for (int s = 0; s < count; s++) Sample(seed, domain, firstIndex + s, tokens.Span.Slice(s * length, length));
            return;
        }
        Parallel.For(0, chunks, c =>
        {
            var span = tokens.Span;
            int end = Math.Min(count, (c + 1) * chunk);
            for (int s = c * chunk; s < end; s++) Sample(seed, domain, firstIndex + s, span.Slice(s * length, length));
        });
    }
}
