using System.Runtime.CompilerServices;

namespace RawFlipFlop.Kernels.Random;

/// <summary>
/// Philox4x32-10, the counter-based generator of Salmon et al., "Parallel random numbers: as easy as
/// 1, 2, 3" (SC'11), exactly as Random123 and cuRAND define it. A block of four 32-bit words is a pure
/// function of a 64-bit key and a 128-bit counter, so any draw can be computed independently, in any
/// order, on any machine (and in kernels.cu, which implements the same function). Every random number
/// in the project comes from here: data sampling, initialisation and dropout masks.
/// </summary>
public static class Philox
{
    const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57; // round multipliers
    const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85; // key schedule (Weyl) increments

    /// <summary>Ten Philox rounds over counter (c0..c3) with key (k0, k1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint X0, uint X1, uint X2, uint X3) Block(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1)
    {
        for (int round = 0; round < 10; round++)
        {
            if (round > 0) { k0 += W0; k1 += W1; }
            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            uint hi0 = (uint)(p0 >> 32), lo0 = (uint)p0;
            uint hi1 = (uint)(p1 >> 32), lo1 = (uint)p1;
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>
    /// Fills <paramref name="words"/> with the word stream of (seed, stream, domain): word m is lane m % 4
    /// of the block at counter (m / 4, lo32(stream), hi32(stream), domain) under key (lo32(seed), hi32(seed)).
    /// </summary>
    public static void Fill(ulong seed, ulong stream, uint domain, Span<uint> words)
    {
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        uint s0 = (uint)stream, s1 = (uint)(stream >> 32);
        int m = 0;
        uint block = 0;
        for (; m + 4 <= words.Length; m += 4, block++)
        {
            var (x0, x1, x2, x3) = Block(block, s0, s1, domain, k0, k1);
            words[m] = x0; words[m + 1] = x1; words[m + 2] = x2; words[m + 3] = x3;
        }
        if (m < words.Length)
        {
            var (x0, x1, x2, x3) = Block(block, s0, s1, domain, k0, k1);
            Span<uint> last = [x0, x1, x2, x3];
            last[..(words.Length - m)].CopyTo(words[m..]);
        }
    }

    /// <summary>Word <paramref name="index"/> of the stream (seed, stream, domain), as <see cref="Fill"/> defines it.</summary>
    public static uint Word(ulong seed, ulong stream, uint domain, ulong index)
    {
        var (x0, x1, x2, x3) = Block((uint)(index >> 2), (uint)stream, (uint)(stream >> 32), domain, (uint)seed, (uint)(seed >> 32));
        return (index & 3) switch { 0 => x0, 1 => x1, 2 => x2, _ => x3 };
    }

    /// <summary>A uniform float in [0, 1) from the top 24 bits of a word (exact in fp32, same on every device).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToUnitFloat(uint word) => (word >> 8) * (1.0f / 16777216.0f);

    /// <summary>The threshold t with P(word &lt; t) = p for a uniform 32-bit word (p clamped to [0, 1]).</summary>
    public static ulong Threshold(double p) => p <= 0 ? 0UL : p >= 1 ? 1UL << 32 : (ulong)Math.Floor(p * 4294967296.0);
}

/// <summary>The domain word (counter lane 3) that keeps the project's random streams apart.</summary>
public static class RandomDomain
{
    /// <summary>Flip-flop datasets: evaluation sets and `data generate`.</summary>
    public const uint Dataset = 0x46464C44;    // "FFLD"
    /// <summary>Freshly sampled training batches.</summary>
    public const uint Training = 0x46464C54;   // "FFLT"
    /// <summary>Flip-flop automaton sequences.</summary>
    public const uint Automaton = 0x46464C41;  // "FFLA"
    /// <summary>Parameter initialisation.</summary>
    public const uint Init = 0x46464C49;       // "FFLI"
    /// <summary>Dropout masks.</summary>
    public const uint Dropout = 0x46464C4D;    // "FFLM"
    /// <summary>The glitch miner's sequences and mutations.</summary>
    public const uint Mining = 0x46464C47;     // "FFLG"
    /// <summary>The order a training data file is walked in (a permutation per epoch).</summary>
    public const uint DataOrder = 0x46464C4F;  // "FFLO"
}
