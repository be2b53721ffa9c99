namespace RawFlipFlop.Engine.Data;

/// <summary>
/// One thing wrong with an input: where (source file, line or row, 1-based column) and why.
/// Column 0 means the whole line or row; line 0 the whole file.
/// </summary>
public sealed record DataProblem(string Source, string Unit, long Line, int Column, string Reason)
{
    public override string ToString() =>
        Line == 0 ? $"{Source}: {Reason}"
        : Column > 0 ? $"{Source}: {Unit} {Line}, column {Column}: {Reason}" : $"{Source}: {Unit} {Line}: {Reason}";
}

/// <summary>An input that failed validation: every problem found (up to a limit) and the total count.</summary>
public sealed class DataFormatException(string source, IReadOnlyList<DataProblem> problems, long totalProblems)
    : Exception(Describe(source, problems, totalProblems))
{
    public string File { get; } = source;
    public IReadOnlyList<DataProblem> Problems { get; } = problems;
    public long TotalProblems { get; } = totalProblems;

    static string Describe(string source, IReadOnlyList<DataProblem> problems, long total)
    {
        var lines = problems.Select(p => p.ToString()).ToList();
        if (total > problems.Count) lines.Add($"... and {total - problems.Count} more problems");
        return $"{source} is not a valid flip-flop file ({total} problem{(total == 1 ? "" : "s")}):" + Environment.NewLine +
               string.Join(Environment.NewLine, lines);
    }
}

/// <summary>Collects problems up to a limit while counting all of them.</summary>
public sealed class ProblemLog(string source, string unit, int limit = 100)
{
    readonly List<DataProblem> _problems = [];
    public string Source { get; } = source;
    public string Unit { get; } = unit;
    public int Limit { get; } = limit;
    public long Total { get; private set; }
    public IReadOnlyList<DataProblem> Problems => _problems;

    public void Add(long line, int column, string reason)
    {
        Total++;
        if (_problems.Count < Limit) _problems.Add(new DataProblem(Source, Unit, line, column, reason));
    }

    public void ThrowIfAny()
    {
        if (Total > 0) throw new DataFormatException(Source, _problems, Total);
    }
}
