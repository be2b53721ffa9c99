namespace RawFlipFlop.Engine.Data;

/// <summary>
/// A set of flip-flop sequences of one length, stored as token ids.
/// Tokens (Count, Length) row-major, values in 0..4 (see <see cref="Tokens"/>).
/// </summary>
public sealed class FlipFlopDataset
{
    public int Count { get; }
    public int Length { get; }
    public byte[] Tokens { get; }

    public FlipFlopDataset(int count, int length)
    {
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count));
        long size = (long)count * length;
        if (size > Array.MaxLength) throw new ArgumentException($"{count} sequences of length {length} exceed one array ({Array.MaxLength} tokens)");
        Count = count;
        Length = length;
        Tokens = new byte[size];
    }

    public FlipFlopDataset(byte[] tokens, int count, int length)
    {
        if ((long)count * length != tokens.Length)
            throw new ArgumentException($"{tokens.Length} tokens do not make {count} sequences of length {length}");
        Count = count;
        Length = length;
        Tokens = tokens;
    }

    public Span<byte> Sequence(int index) => Tokens.AsSpan(index * Length, Length);

    /// <summary>The sequence as text, e.g. "w1i0r1...".</summary>
    public string SequenceText(int index) => FlipFlopText.ToText(Sequence(index));

    /// <summary>Sequences [start, start + count) as a new dataset (a copy).</summary>
    public FlipFlopDataset Slice(int start, int count)
    {
        var tokens = Tokens.AsSpan(start * Length, count * Length).ToArray();
        return new FlipFlopDataset(tokens, count, Length);
    }

    /// <summary>64-bit FNV-1a over (length, tokens): a fingerprint that changes with any token.</summary>
    public ulong Checksum()
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in BitConverter.GetBytes(Length)) hash = (hash ^ b) * 1099511628211UL;
        foreach (byte b in Tokens) hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }
}

/// <summary>Conversions between token ids and the one-character-per-token text form.</summary>
public static class FlipFlopText
{
    public static string ToText(ReadOnlySpan<byte> tokens) =>
        string.Create(tokens.Length, tokens.ToArray(), static (chars, t) =>
        {
            for (int i = 0; i < t.Length; i++) chars[i] = Tokens.ToChar(t[i]);
        });

    /// <summary>Converts validated text; use <see cref="FlipFlopValidator"/> first for untrusted input.</summary>
    public static void FromText(ReadOnlySpan<char> text, Span<byte> tokens)
    {
        for (int i = 0; i < text.Length; i++)
        {
            int t = Tokens.FromChar(text[i]);
            if (t < 0) throw new FormatException($"character '{text[i]}' at column {i + 1} is not a flip-flop token");
            tokens[i] = (byte)t;
        }
    }
}
