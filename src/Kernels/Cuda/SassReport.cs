using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace RawFlipFlop.Kernels.Cuda;

/// <summary>
/// One kernel's SASS: how many instructions of each opcode the code holds (static counts, not executed ones: a loop
/// body counts once), grouped as the report shows them, and the resources the cubin records for it (cuobjdump
/// -res-usage: registers, stack and local memory per thread; local memory is where spills go).
/// </summary>
public sealed record SassMix(IReadOnlyDictionary<string, int> Opcodes, int Registers = 0, int StackBytes = 0, int LocalBytes = 0)
{
    /// <summary>The report's groups, in column order, by opcode (the mnemonic before its first '.').</summary>
    public static readonly IReadOnlyList<(string Name, string[] Opcodes)> Groups =
    [
        ("HMMA", ["HMMA"]),
        ("FFMA", ["FFMA"]),
        ("LDS", ["LDS", "LDSM"]),
        ("LDG", ["LDG", "LDGSTS"]),
        ("INT", ["IMAD", "IADD3", "IADD", "IMUL", "IABS", "IMNMX", "ISETP", "LEA", "LOP3", "LOP", "SHF", "SHL", "SHR", "POPC", "FLO", "BREV", "PRMT", "SEL",
            "UIMAD", "UIADD3", "ULEA", "ULOP3", "USHF", "UISETP", "USEL", "UPRMT", "UFLO", "UPOPC", "UBREV"]),
        ("BAR", ["BAR", "DEPBAR", "LDGDEPBAR"]),
    ];

    /// <summary>Instructions of the group <paramref name="name"/> (<see cref="Groups"/>).</summary>
    public int Group(string name) => Groups.Single(g => g.Name == name).Opcodes.Sum(o => Opcodes.GetValueOrDefault(o));

    public int Total => Opcodes.Values.Sum();

    /// <summary>Instructions in none of the groups (moves, branches, special registers, uniform loads, ...).</summary>
    public int Other => Total - Groups.Sum(g => Group(g.Name));
}

/// <summary>
/// Disassembles a cubin with nvdisasm and counts each kernel's instructions by opcode; reads each kernel's recorded
/// resources with cuobjdump -res-usage. Padding is left out: the NOPs after a kernel's end and the never-executed
/// "@!PT" instructions ptxas places beside cp.async (LDGSTS).
/// </summary>
public static class SassReport
{
    /// <summary>How long one tool may take for one cubin.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromMinutes(2);

    /// <summary>Each function's instruction mix and resources in <paramref name="cubin"/>, by function name.</summary>
    public static IReadOnlyDictionary<string, SassMix> Disassemble(byte[] cubin, string architecture, CudaTools tools)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"rff-sass-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string file = Path.Combine(dir, $"kernels.{architecture}.cubin");
            File.WriteAllBytes(file, cubin);
            // -c: code sections only; -ndf: no dataflow analysis (branch labels are not needed, and it is slow); -novliw: one instruction per line
            string listing = Run(tools.Nvdisasm, "-c", "-ndf", "-novliw", file);
            var opcodes = ParseListing(listing);
            if (opcodes.Count == 0)
                throw new SassException($"nvdisasm ({tools.Nvdisasm}) printed no SASS functions for the {architecture} cubin; its output began: {Printable(listing)}");
            string usage = Run(tools.Cuobjdump, "-res-usage", file);
            var resources = ParseResourceUsage(usage);
            var result = new Dictionary<string, SassMix>(StringComparer.Ordinal);
            foreach (var (name, counts) in opcodes)
            {
                if (!resources.TryGetValue(name, out var r))
                    throw new SassException($"cuobjdump -res-usage ({tools.Cuobjdump}) reported nothing for {name} on {architecture}; its output began: {Printable(usage)}");
                result[name] = new SassMix(counts, r.Registers, r.Stack, r.Local);
            }
            return result;
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    static string Run(string tool, params string[] args)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        string command = $"{tool} {string.Join(' ', args.Take(args.Length - 1))}";
        Process process;
        try
        {
            process = Process.Start(info) ?? throw new SassException($"could not start {tool}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new SassException($"could not run {tool}: {e.Message}");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(Timeout))
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                throw new SassException($"{command} did not finish within {Timeout.TotalSeconds:0} s");
            }
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new SassException($"{command} exited with {process.ExitCode}: {Printable(stderr.Result.Length > 0 ? stderr.Result : stdout.Result)}");
            return stdout.Result;
        }
    }

    static string Printable(string text)
    {
        string line = string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Take(3));
        line = new string(line.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        return line.Length == 0 ? "(nothing)" : line.Length > 300 ? line[..300] + "..." : line;
    }

    static readonly Regex Section = new(@"^\.text\.(\S+):\s*$");
    static readonly Regex Instruction = new(@"^\s*/\*[0-9a-f]{4,}\*/\s+(?<pred>@!?U?P(?:T|\d+)\s+)?(?<op>[A-Z][A-Z0-9_]*)");
    static readonly Regex UsageFunction = new(@"^\s*Function\s+(\S+):\s*$");
    static readonly Regex UsageLine = new(@"REG:(\d+)\s+STACK:(\d+)\s+SHARED:\d+\s+LOCAL:(\d+)");

    /// <summary>Opcode counts per function of an nvdisasm listing (functions start at their ".text.NAME:" label).</summary>
    public static Dictionary<string, Dictionary<string, int>> ParseListing(string listing)
    {
        var result = new Dictionary<string, Dictionary<string, int>>(StringComparer.Ordinal);
        Dictionary<string, int>? current = null;
        foreach (var raw in listing.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            Match m;
            if ((m = Section.Match(line)).Success)
                result[m.Groups[1].Value] = current = new Dictionary<string, int>(StringComparer.Ordinal);
            else if (current != null && (m = Instruction.Match(line)).Success)
            {
                string op = m.Groups["op"].Value;
                if (op == "NOP" || m.Groups["pred"].Value.Trim() == "@!PT") continue;  // padding, never executed
                current[op] = current.GetValueOrDefault(op) + 1;
            }
        }
        return result;
    }

    /// <summary>Registers, stack and local memory per function from cuobjdump -res-usage.</summary>
    public static Dictionary<string, (int Registers, int Stack, int Local)> ParseResourceUsage(string usage)
    {
        var result = new Dictionary<string, (int, int, int)>(StringComparer.Ordinal);
        string? function = null;
        foreach (var raw in usage.Split('\n'))
        {
            Match m;
            if ((m = UsageFunction.Match(raw)).Success) function = m.Groups[1].Value;
            else if (function != null && (m = UsageLine.Match(raw)).Success)
            {
                result[function] = (int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture),
                    int.Parse(m.Groups[3].Value, CultureInfo.InvariantCulture));
                function = null;
            }
        }
        return result;
    }
}

/// <summary>The SASS could not be produced or read (a tool failed, printed nothing usable, or took too long).</summary>
public sealed class SassException(string message) : Exception(message);
