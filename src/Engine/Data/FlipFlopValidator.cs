namespace RawFlipFlop.Engine.Data;

/// <summary>
/// Checks one flip-flop string: only w r i 0 1; instructions at odd columns and bits at even columns
/// (1-based); even length of at least 4; first instruction w; every bit after r equals the last written bit.
/// Reports each problem with its 1-based column; converts the string to token ids on the way.
/// </summary>
public static class FlipFlopValidator
{
    /// <summary>Validates <paramref name="text"/>, writes its tokens into <paramref name="tokens"/> (when long
    /// enough) and reports problems through <paramref name="report"/>(column, reason). Returns true when valid.</summary>
    public static bool Validate(ReadOnlySpan<char> text, Span<byte> tokens, Action<int, string> report)
    {
        if (text.Length == 0)
        {
            report(0, "empty line: expected a flip-flop string such as w1i0r1");
            return false;
        }
        bool valid = true;
        int lastWriteColumn = 0;
        byte lastWritten = 0;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            int column = i + 1;
            int token = Tokens.FromChar(c);
            if (token < 0)
            {
                report(column, $"unexpected character {CharacterNames.Describe(c)}: a flip-flop string holds only w, r, i, 0 and 1");
                return false;
            }
            bool instructionSlot = i % 2 == 0;
            if (instructionSlot && !Tokens.IsInstruction((byte)token))
            {
                report(column, $"expected an instruction (w, r or i) at column {column}, found '{c}'");
                return false;
            }
            if (!instructionSlot && !Tokens.IsBit((byte)token))
            {
                report(column, $"expected a bit (0 or 1) after '{text[i - 1]}' at column {column}, found '{c}'");
                return false;
            }
            if (i == 0 && token != Tokens.Write)
            {
                report(column, $"a flip-flop string must start with 'w', found '{c}'");
                valid = false;
            }
            if (i < tokens.Length) tokens[i] = (byte)token;
            if (!instructionSlot)
            {
                byte instruction = (byte)Tokens.FromChar(text[i - 1]);
                if (instruction == Tokens.Write)
                {
                    lastWritten = (byte)token;
                    lastWriteColumn = column;
                }
                else if (instruction == Tokens.Read && lastWriteColumn > 0 && token != lastWritten)
                {
                    report(column, $"read gives '{c}' but the last write (column {lastWriteColumn}) wrote '{Tokens.ToChar(lastWritten)}'");
                    valid = false;
                }
            }
        }
        if (text.Length % 2 != 0)
        {
            report(text.Length, $"odd length {text.Length}: a flip-flop string is a sequence of (instruction, bit) pairs");
            valid = false;
        }
        else if (text.Length < 4)
        {
            report(0, $"length {text.Length} is too short: a flip-flop string has at least 4 characters");
            valid = false;
        }
        return valid;
    }
}
