using System.CommandLine;
using System.Globalization;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>
/// Range rules for options that only the command line has (the options of a training run are checked by
/// TrainOptions.Validate). A value out of range is a parse error naming the option, so nothing runs.
/// </summary>
public static class OptionRules
{
    public static Option<int> AtLeast(this Option<int> option, int min) =>
        Rule(option, v => v >= min, v => $"must be at least {min}, got {v}");

    public static Option<int?> AtLeast(this Option<int?> option, int min) =>
        Rule(option, v => v is null || v >= min, v => $"must be at least {min}, got {v}");

    public static Option<long> AtLeast(this Option<long> option, long min) =>
        Rule(option, v => v >= min, v => $"must be at least {min}, got {v}");

    /// <summary>A sequence length of flip-flop strings: even and at least 4.</summary>
    public static Option<int> FlipFlopLength(this Option<int> option) =>
        Rule(option, v => v >= 4 && v % 2 == 0, v => $"must be even and at least 4, got {v}");

    public static Option<double?> Probability(this Option<double?> option) =>
        Rule(option, v => v is null || v is >= 0 and <= 1, v => $"must be a probability in [0, 1], got {Text(v)}");

    public static Option<double> Probability(this Option<double> option) =>
        Rule(option, v => v is >= 0 and <= 1, v => $"must be a probability in [0, 1], got {Text(v)}");

    static string Text(double? v) => v?.ToString("R", CultureInfo.InvariantCulture) ?? "null";

    static Option<T> Rule<T>(Option<T> option, Func<T, bool> valid, Func<T, string> problem)
    {
        option.Validators.Add(result =>
        {
            var value = result.GetValueOrDefault<T>();
            if (!valid(value)) result.AddError($"{option.Name}: {problem(value)}");
        });
        return option;
    }
}
