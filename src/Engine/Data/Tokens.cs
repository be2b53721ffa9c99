namespace RawFlipFlop.Engine.Data;

/// <summary>
/// The flip-flop vocabulary, identical to the public synthseq/flipflop dataset:
/// w=0, r=1, i=2, 0=3, 1=4. A sequence of T tokens is T/2 (instruction, bit) pairs.
/// </summary>
public static class Tokens
{
    public const byte Write = 0;
    public const byte Read = 1;
    public const byte Ignore = 2;
    public const byte Zero = 3;
    public const byte One = 4;
    public const int VocabularySize = 5;

    /// <summary>The text character of each token id.</summary>
    public static ReadOnlySpan<byte> Characters => "wri01"u8;

    public static char ToChar(byte token) => (char)Characters[token];

    /// <summary>The token id of a text character, or -1 if the character is not in the vocabulary.</summary>
    public static int FromChar(char c) => c switch
    {
        'w' => Write,
        'r' => Read,
        'i' => Ignore,
        '0' => Zero,
        '1' => One,
        _ => -1,
    };

    public static bool IsInstruction(byte token) => token <= Ignore;
    public static bool IsBit(byte token) => token is Zero or One;
    public static byte Bit(int bit) => (byte)(Zero + bit);
}
