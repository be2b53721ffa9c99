using System.Globalization;

namespace RawFlipFlop.Bench;

/// <summary>A bad option of step-timing or gpu-step: Program prints it as one error line and exits 2.</summary>
public sealed class BenchOptionException(string message) : Exception(message);

/// <summary>The `--name value` options of the bench's own commands (step-timing, gpu-step).</summary>
public static class BenchOptions
{
    /// <summary>The value after <paramref name="name"/>, or null when the option is absent; an option without a value is an error.</summary>
    public static string? Value(string[] args, string name)
    {
        int at = Array.IndexOf(args, name);
        if (at < 0) return null;
        if (at + 1 >= args.Length || args[at + 1].StartsWith("--", StringComparison.Ordinal)) throw new BenchOptionException($"{name}: needs a value");
        return args[at + 1];
    }

    /// <summary>A positive count, or <paramref name="fallback"/> when the option is absent.</summary>
    public static int Count(string[] args, string name, int fallback)
    {
        string? text = Value(args, name);
        if (text == null) return fallback;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) && value >= 1
            ? value : throw new BenchOptionException($"{name}: expected a positive count, got \"{text}\"");
    }

    /// <summary>The comma-separated models of --models (default: <paramref name="fallback"/>), each one of <paramref name="known"/>.</summary>
    public static string[] Models(string[] args, IEnumerable<string> known, string fallback)
    {
        var names = (Value(args, "--models") ?? fallback).Split(',', StringSplitOptions.RemoveEmptyEntries);
        foreach (var name in names)
            if (!known.Contains(name)) throw new BenchOptionException($"--models: unknown model \"{name}\" (known: {string.Join(", ", known)})");
        return names.Length > 0 ? names : throw new BenchOptionException("--models: names no model");
    }
}
