using System.Text.RegularExpressions;

namespace RawFlipFlop.Tests.Experiments.Cli.Hostile;

/// <summary>One hostile input: the command line (built in a workspace it may prepare), the exit code it must end
/// with, and what stderr must name (the offending file or option).</summary>
public sealed record HostileCase(string Name, int Exit, string Mention, Func<Workspace, string[]> Args);

/// <summary>
/// Every command and file format against bad input: each case must end with the documented exit code (2 for invalid
/// input data or options, 1 for other failures), a last stderr line "error: ..." that names the offending file or
/// option, no stack trace, within a time limit, and with nothing in its directory changed or left half-written.
/// </summary>
[Trait("Category", "Cpu")]
public sealed partial class HostileInputTests
{
    static readonly Dictionary<string, HostileCase> Cases = OptionCases().Concat(FileCases()).Concat(StoreCases()).Concat(OutputCases()).Concat(ExportCases())
        .ToDictionary(c => c.Name);

    public static TheoryData<string> Names => new(Cases.Keys.Order(StringComparer.Ordinal));

    [Fact]
    public void The_suite_has_at_least_150_cases() => Assert.True(Cases.Count >= 150, $"{Cases.Count} cases");

    static readonly Regex StackTrace = new(@"^\s+at \S+.*\)|--- End of|Unhandled exception", RegexOptions.Multiline);

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Fails_cleanly(string name)
    {
        var c = Cases[name];
        using var w = new Workspace();
        var args = c.Args(w);
        var before = w.Snapshot();
        var result = await Task.Run(() => CliRunner.Run(args), TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        string err = result.Err;
        Assert.True(c.Exit == result.ExitCode, $"{name}: exit {result.ExitCode}, expected {c.Exit}\n{err}");
        Assert.DoesNotMatch(StackTrace, err);
        var last = err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? "";
        Assert.True(last.StartsWith("error: ", StringComparison.Ordinal), $"{name}: the last stderr line is not an error line:\n{err}");
        Assert.True(err.Contains(c.Mention, StringComparison.Ordinal), $"{name}: stderr does not name {c.Mention}:\n{err}");
        Assert.Equal(before, w.Snapshot());
    }
}
