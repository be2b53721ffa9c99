using System.CommandLine;
using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>The command tree of the program and the one place that turns failures into exit codes.</summary>
public static class CommandLine
{
    /// <summary>Exit code for invalid input data (a file that failed validation).</summary>
    public const int InvalidData = 2;
    /// <summary>Exit code for any other failure (bad option values, missing files, I/O errors).</summary>
    public const int Failure = 1;

    public static RootCommand Build(CliOutput output)
    {
        var root = new RootCommand("RawFlipFlop: flip-flop language modeling with hand-written kernels (CPU, CUDA, emulator).");
        root.Add(DataCommands.Build(output));
        root.Add(ModelCommands.Model(output));
        root.Add(TrainCommand.Build(output));
        root.Add(ModelCommands.Eval(output));
        root.Add(ModelCommands.Grads(output));
        root.Add(ExperimentCommands.Build(output));
        root.Add(KernelCommands.Build(output));
        return root;
    }

    /// <summary>Parses and runs <paramref name="args"/>, writing to the given writers; returns the exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var output = new CliOutput(stdout, stderr);
        var root = Build(output);
        var config = new InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
        try
        {
            return root.Parse(args).Invoke(config);
        }
        catch (DataFormatException e)
        {
            stderr.WriteLine(e.Message);
            return InvalidData;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or UnauthorizedAccessException
                                      or InvalidOperationException or NotSupportedException or CliException)
        {
            stderr.WriteLine($"error: {e.Message}");
            return Failure;
        }
    }
}

/// <summary>A failure the user can fix, reported as "error: message" with exit code 1.</summary>
public sealed class CliException(string message) : Exception(message);

/// <summary>Where commands write: results to Out, diagnostics and progress to Err.</summary>
public sealed class CliOutput(TextWriter stdout, TextWriter stderr)
{
    public TextWriter Out { get; } = stdout;
    public TextWriter Err { get; } = stderr;
    /// <summary>True when stderr is an interactive terminal, so live progress can redraw in place.</summary>
    public bool Interactive { get; } = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
}
