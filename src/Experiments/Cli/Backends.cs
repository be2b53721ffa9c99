using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>`--backend`: opens a <see cref="Backend"/>, saying on stderr why `auto` fell back to the CPU.</summary>
public static class Backends
{
    public static Backend Open(string name, CliOutput output)
    {
        if (!Backend.Names.Contains(name)) throw new CliException($"--backend must be one of {string.Join(", ", Backend.Names)}, got \"{name}\"");
        try
        {
            var backend = Backend.Open(name, out var note);
            if (note != null) output.Err.WriteLine($"note: {note}");
            return backend;
        }
        catch (InvalidOperationException e) { throw new CliException($"--backend {name}: {e.Message}", ExitCodes.Failure); }
    }
}

/// <summary>Parsing of option values that name enum members (one spelling: the JSON one).</summary>
public static class CliParse
{
    public static TEnum Enum<TEnum>(string text, string option) where TEnum : struct, System.Enum
    {
        try { return EnumText<TEnum>.Parse(text, option); }
        catch (ArgumentException e) { throw new CliException(e.Message); }
    }
}
