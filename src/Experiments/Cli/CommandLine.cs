using System.CommandLine;
using Microsoft.Data.Sqlite;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>The exit codes of every command.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>Anything else that went wrong: I/O, a device, a bug.</summary>
    public const int Failure = 1;
    /// <summary>Invalid input data or options: the user can fix the input and run again.</summary>
    public const int InvalidInput = 2;
}

/// <summary>
/// The command tree of the program and the one place that turns failures into exit codes and messages. Every failure
/// ends with one line "error: FILE or OPTION: what is wrong" on stderr; the stack trace is shown only with --verbose
/// or RFF_DEBUG=1.
/// </summary>
public static class CommandLine
{
    public static RootCommand Build(CliOutput output)
    {
        var root = new RootCommand("RawFlipFlop: flip-flop language modeling with hand-written kernels (CPU, CUDA, emulator).");
        root.Add(Verbose);
        root.Add(DataCommands.Build(output));
        root.Add(ModelCommands.Model(output));
        root.Add(TrainCommand.Build(output));
        root.Add(ModelCommands.Eval(output));
        root.Add(ModelCommands.Grads(output));
        root.Add(ExperimentCommands.Build(output));
        root.Add(GlitchCommands.Build(output));
        root.Add(InspectCommands.Build(output));
        root.Add(KernelCommands.Build(output));
        return root;
    }

    static readonly Option<bool> Verbose = new("--verbose") { Description = "on failure, print the stack trace too (or set RFF_DEBUG=1)", Recursive = true };

    /// <summary>Parses and runs <paramref name="args"/>, writing to the given writers; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var output = new CliOutput(stdout, stderr);
        var root = Build(output);
        var parsed = root.Parse(args);
        bool verbose = Environment.GetEnvironmentVariable("RFF_DEBUG") == "1" || (parsed.Errors.Count == 0 && parsed.GetValue(Verbose));
        if (parsed.Errors.Count > 0)
        {
            stderr.WriteLine($"usage: see `{CommandPath(parsed)} --help`");
            foreach (var e in parsed.Errors) stderr.WriteLine($"error: {e.Message}");
            return ExitCodes.InvalidInput;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            var (code, message) = Describe(e, stderr);
            if (verbose) stderr.WriteLine(e);
            stderr.WriteLine($"error: {message}");
            return code;
        }
    }

    static string CommandPath(ParseResult parsed)
    {
        var names = new List<string> { "rawflipflop" };
        for (var r = parsed.CommandResult; r != null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            if (r.Command is not RootCommand) names.Insert(1, r.Command.Name);
        return string.Join(' ', names);
    }

    /// <summary>The exit code and the one-line message of a failure (invalid data also lists its problems first).</summary>
    static (int Code, string Message) Describe(Exception e, TextWriter stderr)
    {
        switch (e)
        {
            case CliException c:
                return (c.ExitCode, c.Message);
            case DataFormatException d:
                foreach (var p in d.Problems) stderr.WriteLine(p);
                if (d.TotalProblems > d.Problems.Count) stderr.WriteLine($"... and {d.TotalProblems - d.Problems.Count} more problems");
                return (ExitCodes.InvalidInput, $"{d.File}: {d.TotalProblems} problem{(d.TotalProblems == 1 ? "" : "s")} (listed above); " +
                                                $"`rawflipflop data check {d.File}` lists them all");
            case SafeTensorsException or OptionsMismatchException or ArgumentException or FormatException:
                return (ExitCodes.InvalidInput, e.Message);
            case ResultsStoreException s:
                return (s.InvalidData ? ExitCodes.InvalidInput : ExitCodes.Failure, s.Message);
            case SqliteException s:
                return (ExitCodes.Failure, $"results store: {s.Message}");
            case InsufficientMemoryException:
                return (ExitCodes.InvalidInput, e.Message);
            case OutOfMemoryException:
                return (ExitCodes.Failure, "out of memory; use smaller sizes (batch, length, model, evaluation counts)");
            case InvalidDataException:
                return (ExitCodes.InvalidInput, e.Message); // a data file or snapshot that is not what it should be
            case IOException or UnauthorizedAccessException:
                return (ExitCodes.Failure, e.Message);
            case OperationCanceledException:
                return (ExitCodes.Failure, "cancelled");
            default:
                return (ExitCodes.Failure, $"internal error: {e.GetType().Name}: {e.Message} (run with --verbose for the stack trace; please report it)");
        }
    }
}

/// <summary>A failure the user can act on; its message starts with the file or option it is about.</summary>
public sealed class CliException(string message, int exitCode = ExitCodes.InvalidInput) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}

/// <summary>Where commands write: results to Out, diagnostics and progress to Err.</summary>
public sealed class CliOutput(TextWriter stdout, TextWriter stderr)
{
    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;
    /// <summary>True when stderr is an interactive terminal, so live progress can redraw in place.</summary>
    public bool Interactive { get; } = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;

    /// <summary>Writes nothing (notes of backends opened once per job are printed by the first opening).</summary>
    public static CliOutput Silent { get; } = new(TextWriter.Null, TextWriter.Null);
}
