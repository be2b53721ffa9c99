using System.Globalization;
using System.Text.Json.Serialization;

namespace RawFlipFlop.Engine.Data;

/// <summary>
/// FFL(p) with p = (p_w, p_r, p_i): the instruction probabilities of the pairs between the first (always
/// w) and the last (always r). FFL(p_i = x) means p_w = p_r = (1 - x) / 2.
/// </summary>
public readonly record struct FlipFlopDistribution
{
    public double PWrite { get; }
    public double PRead { get; }
    public double PIgnore { get; }

    [JsonConstructor]
    public FlipFlopDistribution(double pWrite, double pRead, double pIgnore)
    {
        foreach (var (name, p) in new[] { ("p_write", pWrite), ("p_read", pRead), ("p_ignore", pIgnore) })
            if (!(p >= 0 && p <= 1))
                throw new ArgumentException($"{name} must lie in [0, 1], got {p.ToString(CultureInfo.InvariantCulture)}");
        if (Math.Abs(pWrite + pRead + pIgnore - 1) > 1e-9)
            throw new ArgumentException(FormattableString.Invariant(
                $"p_write + p_read + p_ignore must be 1, got {pWrite} + {pRead} + {pIgnore} = {pWrite + pRead + pIgnore}"));
        PWrite = pWrite;
        PRead = pRead;
        PIgnore = pIgnore;
    }

    /// <summary>FFL(p_i = x): p_w = p_r = (1 - x) / 2.</summary>
    public static FlipFlopDistribution WithIgnore(double pIgnore)
    {
        if (!(pIgnore >= 0 && pIgnore <= 1))
            throw new ArgumentException($"p_ignore must lie in [0, 1], got {pIgnore.ToString(CultureInfo.InvariantCulture)}");
        double rest = (1 - pIgnore) / 2;
        return new FlipFlopDistribution(rest, rest, 1 - 2 * rest);
    }

    /// <summary>Training distribution of the paper, FFL(0.8).</summary>
    public static FlipFlopDistribution Train => WithIgnore(0.8);
    /// <summary>Sparse (long dependencies) out-of-distribution probe, FFL(0.98).</summary>
    public static FlipFlopDistribution Sparse => WithIgnore(0.98);
    /// <summary>Dense out-of-distribution probe, FFL(0.1).</summary>
    public static FlipFlopDistribution Dense => WithIgnore(0.1);

    public override string ToString() =>
        FormattableString.Invariant($"FFL(p_w={PWrite:0.####}, p_r={PRead:0.####}, p_i={PIgnore:0.####})");
}

/// <summary>A uniform mixture of flip-flop distributions: each sequence draws its component first.</summary>
public sealed record FlipFlopMixture(IReadOnlyList<FlipFlopDistribution> Components)
{
    public static FlipFlopMixture Of(FlipFlopDistribution single) => new([single]);

    /// <summary>The uniform mixture of FFL(p_i = x) over the given x (the paper's R4: 0.9, 0.98, 0.1).</summary>
    public static FlipFlopMixture OfIgnoreProbabilities(IEnumerable<double> pIgnore) =>
        new(pIgnore.Select(FlipFlopDistribution.WithIgnore).ToArray());

    /// <summary>Parses "0.9,0.98,0.1" (p_ignore values) into a uniform mixture.</summary>
    public static FlipFlopMixture Parse(string text)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new FormatException($"mixture '{text}' names no p_ignore value");
        var values = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]))
                throw new FormatException($"mixture '{text}': '{parts[i]}' is not a number");
        return OfIgnoreProbabilities(values);
    }

    public override string ToString() =>
        Components.Count == 1 ? Components[0].ToString() : "uniform mixture of " + string.Join(", ", Components);
}
