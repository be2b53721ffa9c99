namespace RawFlipFlop.Kernels.Cuda;

/// <summary>
/// The CUDA binary utilities the SASS report runs: nvdisasm (the SASS of a cubin) and cuobjdump (the resources a
/// cubin records per kernel). They come with the CUDA toolkit; without it, Debian's non-free nvidia-cuda-toolkit package can be unpacked
/// instead of installed (<see cref="HowToGet"/>).
/// </summary>
public sealed record CudaTools(string Cuobjdump, string Nvdisasm)
{
    /// <summary>A directory holding both tools, searched before PATH.</summary>
    public const string EnvironmentVariable = "RFF_CUDA_TOOLS";

    /// <summary>Where to look after the directories of PATH.</summary>
    public static readonly IReadOnlyList<string> StandardDirectories = ["/usr/local/cuda/bin"];

    public static readonly string HowToGet =
        "get them without installing the CUDA toolkit: `cd /tmp && apt-get download nvidia-cuda-toolkit && " +
        "dpkg -x nvidia-cuda-toolkit_*.deb /tmp/cudatk` (Debian's non-free source), then pass --cuda-tools /tmp/cudatk/usr/bin " +
        $"or set {EnvironmentVariable}=/tmp/cudatk/usr/bin";

    /// <summary>
    /// Both tools in <paramref name="directory"/>, or null with what is wrong (no such directory, a file, a tool that
    /// is missing or not executable).
    /// </summary>
    public static CudaTools? InDirectory(string directory, out string problem)
    {
        if (File.Exists(directory)) { problem = $"{directory} is a file, not a directory"; return null; }
        if (!Directory.Exists(directory)) { problem = $"{directory}: no such directory"; return null; }
        var missing = new List<string>();
        string Tool(string name)
        {
            string path = Path.GetFullPath(Path.Combine(directory, name));
            if (!File.Exists(path)) missing.Add($"no {name}");
            else if (!IsExecutable(path)) missing.Add($"{name} is not executable");
            return path;
        }
        var tools = new CudaTools(Tool("cuobjdump"), Tool("nvdisasm"));
        problem = missing.Count == 0 ? "" : $"{directory}: {string.Join(", ", missing)}";
        return missing.Count == 0 ? tools : null;
    }

    /// <summary>
    /// The tools from <paramref name="environment"/> (the value of <see cref="EnvironmentVariable"/>) when set, else
    /// from the first directory of <paramref name="path"/> (a PATH value) or <see cref="StandardDirectories"/> that has
    /// both; null with the reason and <see cref="HowToGet"/> when none has.
    /// </summary>
    public static CudaTools? Find(string? environment, string? path, out string reason)
    {
        if (!string.IsNullOrEmpty(environment))
        {
            var tools = InDirectory(environment, out string problem);
            reason = tools == null ? $"{EnvironmentVariable}: {problem}; {HowToGet}" : "";
            return tools;
        }
        var searched = (path ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Concat(StandardDirectories).Distinct().ToList();
        foreach (var dir in searched)
            if (InDirectory(dir, out _) is { } tools)
            {
                reason = "";
                return tools;
            }
        reason = $"cuobjdump and nvdisasm (CUDA binary utilities) not found in PATH or {string.Join(", ", StandardDirectories)}; {HowToGet}";
        return null;
    }

    /// <summary><see cref="Find(string?, string?, out string)"/> with this process's environment.</summary>
    public static CudaTools? Find(out string reason) =>
        Find(Environment.GetEnvironmentVariable(EnvironmentVariable), Environment.GetEnvironmentVariable("PATH"), out reason);

    static bool IsExecutable(string path) =>
        OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
}
