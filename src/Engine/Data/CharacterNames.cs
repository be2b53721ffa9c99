namespace RawFlipFlop.Engine.Data;

/// <summary>How problem reports show a character: quoted, or named when it would not show.</summary>
public static class CharacterNames
{
    public static string Describe(char c) => c switch
    {
        ' ' => "' ' (space)",
        '\t' => "'\\t' (tab)",
        '\r' => "'\\r' (carriage return)",
        '\uFFFD' => "U+FFFD (the replacement character, which stands for bytes that were not valid UTF-8)",
        '\uFEFF' => "U+FEFF (a byte-order mark)",
        _ when char.IsControl(c) => $"U+{(int)c:X4} (control character)",
        _ => $"'{c}'",
    };
}
