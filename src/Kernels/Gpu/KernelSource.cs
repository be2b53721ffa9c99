using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// One kernel of the kernel table: its name and the threads per block it is launched with, which is the first
/// argument of its <c>__launch_bounds__</c> (0 when it has none, which <see cref="KernelSource.TableProblems"/> reports).
/// </summary>
public sealed record KernelTableEntry(string Name, int BlockThreads);

/// <summary>
/// A CUDA source in kernels.cu's conventions: entry points are <c>extern "C" __global__</c>, each declares its
/// block size once as <c>__launch_bounds__(threads)</c> (a number or an integer #define), and the macro
/// <c>RFF_KERNEL_TABLE(X)</c> lists each once by name as <c>X(name)</c>.
/// <see cref="Default"/> is kernels.cu itself, embedded in this assembly.
/// </summary>
public sealed partial class KernelSource
{
    static readonly Lazy<KernelSource> s_default = new(() => Parse("kernels.cu", ReadResource("kernels.cu")));

    public static KernelSource Default => s_default.Value;

    /// <summary>File name used in compiler messages (kernels.cu).</summary>
    public string Name { get; }
    public string Text { get; }

    /// <summary>The kernel table, in its order, with each kernel's block size from its definition.</summary>
    public IReadOnlyList<KernelTableEntry> Table { get; }

    /// <summary>Names of the <c>extern "C" __global__</c> functions defined in the source (comments ignored), in order.</summary>
    public IReadOnlyList<string> GlobalFunctions { get; }

    /// <summary>Integer #defines (<c>#define NAME 123</c>).</summary>
    public IReadOnlyDictionary<string, int> Defines { get; }

    readonly Dictionary<string, KernelTableEntry> _byName;

    KernelSource(string name, string text, List<KernelTableEntry> table, List<string> globals, Dictionary<string, int> defines)
    {
        Name = name;
        Text = text;
        Table = table;
        GlobalFunctions = globals;
        Defines = defines;
        _byName = [];
        foreach (var e in table) _byName.TryAdd(e.Name, e);
    }

    public static KernelSource Parse(string name, string text)
    {
        string code = StripComments(text);
        var defines = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match m in DefineRegex().Matches(code))
            defines[m.Groups[1].Value] = int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        var globals = new List<string>();
        var blockThreads = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (Match m in GlobalRegex().Matches(code))
        {
            string kernel = m.Groups["name"].Value;
            globals.Add(kernel);
            if (m.Groups["threads"].Success) blockThreads.TryAdd(kernel, Resolve(m.Groups["threads"].Value.Trim(), kernel));
        }
        var table = new List<KernelTableEntry>();
        var tableMatch = TableRegex().Match(code);
        if (tableMatch.Success)
            foreach (Match m in TableEntryRegex().Matches(tableMatch.Value))
                table.Add(new KernelTableEntry(m.Groups[1].Value, blockThreads.GetValueOrDefault(m.Groups[1].Value)));
        return new KernelSource(name, text, table, globals, defines);

        int Resolve(string value, string kernel) =>
            int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) ? n
            : defines.TryGetValue(value, out n) ? n
            : throw new FormatException($"{name}: kernel {kernel}: __launch_bounds__({value}) is neither a number nor an integer #define");
    }

    /// <summary>The table entry of <paramref name="kernel"/>.</summary>
    public KernelTableEntry Kernel(string kernel) =>
        _byName.TryGetValue(kernel, out var e) ? e : throw new ArgumentException($"{Name} has no kernel '{kernel}' in its kernel table");

    /// <summary>Threads per block <paramref name="kernel"/> is launched with (its <c>__launch_bounds__</c>).</summary>
    public int BlockThreads(string kernel) => Kernel(kernel).BlockThreads;

    public int Define(string name) =>
        Defines.TryGetValue(name, out int v) ? v : throw new ArgumentException($"{Name} has no integer #define {name}");

    /// <summary>
    /// Problems with the table: entries that are not defined, definitions not in the table, duplicates, kernels
    /// without <c>__launch_bounds__</c> or with a block size outside 1..1024.
    /// </summary>
    public IReadOnlyList<string> TableProblems()
    {
        var problems = new List<string>();
        if (!TableRegex().IsMatch(StripComments(Text))) problems.Add($"{Name} defines no RFF_KERNEL_TABLE(X)");
        var defined = GlobalFunctions.ToHashSet(StringComparer.Ordinal);
        var listed = Table.Select(e => e.Name).ToList();
        foreach (var g in GlobalFunctions.GroupBy(n => n).Where(g => g.Count() > 1))
            problems.Add($"extern \"C\" __global__ {g.Key} is defined {g.Count()} times");
        foreach (var g in listed.GroupBy(n => n).Where(g => g.Count() > 1))
            problems.Add($"{g.Key} is listed {g.Count()} times in the kernel table");
        foreach (var n in GlobalFunctions.Where(n => !listed.Contains(n)).Distinct())
            problems.Add($"extern \"C\" __global__ {n} is not in the kernel table");
        foreach (var n in listed.Where(n => !defined.Contains(n)).Distinct())
            problems.Add($"the kernel table lists {n}, which is not an extern \"C\" __global__ function");
        foreach (var e in Table.Where(e => defined.Contains(e.Name)).DistinctBy(e => e.Name))
            if (e.BlockThreads == 0) problems.Add($"extern \"C\" __global__ {e.Name} has no __launch_bounds__ (its block size)");
            else if (e.BlockThreads is < 1 or > 1024) problems.Add($"{e.Name}: block size {e.BlockThreads} is outside 1..1024");
        return problems;
    }

    /// <summary>The text with // and /* */ comments replaced by spaces (line breaks kept).</summary>
    public static string StripComments(string text)
    {
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            if (text[i] == '"')
            {
                int j = i + 1;
                while (j < text.Length && text[j] != '"' && text[j] != '\n') j += text[j] == '\\' ? 2 : 1;
                j = Math.Min(j, text.Length - 1);
                sb.Append(text, i, j - i + 1);
                i = j;
            }
            else if (text[i] == '/' && i + 1 < text.Length && text[i + 1] == '/')
            {
                while (i < text.Length && text[i] != '\n') { sb.Append(' '); i++; }
                if (i < text.Length) sb.Append('\n');
            }
            else if (text[i] == '/' && i + 1 < text.Length && text[i + 1] == '*')
            {
                int end = text.IndexOf("*/", i + 2, StringComparison.Ordinal);
                end = end < 0 ? text.Length : end + 2;
                for (; i < end; i++) sb.Append(text[i] == '\n' ? '\n' : ' ');
                i--;
            }
            else sb.Append(text[i]);
        }
        return sb.ToString();
    }

    internal static string ReadResource(string logicalName)
    {
        using var stream = typeof(KernelSource).Assembly.GetManifestResourceStream(logicalName)
                           ?? throw new InvalidOperationException($"embedded resource {logicalName} is missing");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+(\d+)[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex DefineRegex();

    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+(?:(?:void|__launch_bounds__\s*\((?<threads>[^,)]*)(?:,[^)]*)?\))\s*)+(?!__launch_bounds__)(?<name>\w+)\s*\(")]
    private static partial Regex GlobalRegex();

    [GeneratedRegex(@"#[ \t]*define[ \t]+RFF_KERNEL_TABLE\(X\)(?:[^\n]*\\\r?\n)*[^\n]*")]
    private static partial Regex TableRegex();

    [GeneratedRegex(@"\bX\(\s*(\w+)\s*\)")]
    private static partial Regex TableEntryRegex();
}
