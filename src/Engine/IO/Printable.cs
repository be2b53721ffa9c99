using System.Text;

namespace RawFlipFlop.Engine.IO;

/// <summary>
/// Text from an input file (a column or tensor name) made safe to print in a message: control characters
/// (terminal escapes, newlines) are shown as \uXXXX and long text is cut, so a hostile file cannot forge or
/// flood the report it causes.
/// </summary>
public static class Printable
{
    public static string Of(string text, int maxLength = 80)
    {
        var builder = new StringBuilder();
        foreach (char c in text.Length > maxLength ? text[..maxLength] : text)
        {
            if (char.IsControl(c) || char.IsSurrogate(c) || c is '\u2028' or '\u2029' or '\u200e' or '\u200f' or (>= '\u202a' and <= '\u202e'))
                builder.Append($"\\u{(int)c:X4}");
            else builder.Append(c);
        }
        if (text.Length > maxLength) builder.Append($"... ({text.Length} characters)");
        return builder.ToString();
    }
}
