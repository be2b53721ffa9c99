using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;

namespace RawFlipFlop.Kernels.Cuda;

/// <summary>
/// Finds the CUDA driver for the LibraryImport bindings (one DllImport resolver for this assembly) and the NVRTC
/// candidates (<see cref="Nvrtc"/> loads them and chooses). Driver: $RFF_CUDA_LIBRARY, else libcuda.so.1. NVRTC:
/// $RFF_NVRTC_LIBRARY alone, else the libnvrtc.so.X files in the application's directory, the standard library
/// directories (and $LD_LIBRARY_PATH, $CUDA_PATH/lib64, /usr/local/cuda/lib64) and the sonames libnvrtc.so.13 /
/// .12 / .11.2 the loader knows. A variable that names a file that does not load is an error, not a reason to look
/// elsewhere.
/// </summary>
public static partial class NativeLibraries
{
    internal const string Cuda = "rff-cuda";
    public const string CudaVariable = "RFF_CUDA_LIBRARY";
    public const string NvrtcVariable = "RFF_NVRTC_LIBRARY";

    static readonly Lazy<Loaded> s_cuda = new(LoadCuda);
    static int s_registered;

    sealed record Loaded(nint Handle, string Path, string Reason);

    /// <summary>Registers the resolver (idempotent); the binding classes call it from their static constructors.</summary>
    internal static void Register()
    {
        if (Interlocked.Exchange(ref s_registered, 1) == 0)
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraries).Assembly, Resolve);
    }

    static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) => name switch
    {
        Cuda => s_cuda.Value.Handle,
        _ => 0,
    };

    /// <summary>Whether the CUDA driver library loads; its path, or why not.</summary>
    /// <summary>The driver entry points in <paramref name="names"/> it lacks (an older driver).</summary>
    public static IReadOnlyList<string> MissingCudaExports(params string[] names)
    {
        var cuda = s_cuda.Value;
        return cuda.Handle == 0 ? names : [.. names.Where(n => !NativeLibrary.TryGetExport(cuda.Handle, n, out _))];
    }

    public static bool TryCuda(out string pathOrReason)
    {
        var l = s_cuda.Value;
        pathOrReason = l.Handle != 0 ? l.Path : l.Reason;
        return l.Handle != 0;
    }

    static Loaded LoadCuda()
    {
        if (Environment.GetEnvironmentVariable(CudaVariable) is { Length: > 0 } file)
            return NativeLibrary.TryLoad(file, out nint h) ? new(h, file, "")
                : new(0, file, $"{CudaVariable}={file} does not load as a library");
        foreach (var name in new[] { "libcuda.so.1", "libcuda.so" })
            if (NativeLibrary.TryLoad(name, out nint h)) return new(h, name, "");
        return new(0, "", "no CUDA driver: libcuda.so.1 was not found (set RFF_CUDA_LIBRARY to its path)");
    }

    /// <summary>
    /// NVRTC candidates, newest version first by name (a name can understate the version: libnvrtc.so.11.2 is any
    /// 11.x): files found in library directories, then sonames; only $RFF_NVRTC_LIBRARY when it is set.
    /// </summary>
    public static IReadOnlyList<string> NvrtcCandidates()
    {
        if (Environment.GetEnvironmentVariable(NvrtcVariable) is { Length: > 0 } file) return [file];
        var found = new List<(Version Version, string Path)>();
        foreach (var dir in LibraryDirectories().Distinct())
        {
            string[] files;
            try { files = Directory.Exists(dir) ? Directory.GetFiles(dir, "libnvrtc.so.*") : []; }
            catch (IOException) { continue; }
            catch (UnauthorizedAccessException) { continue; }
            foreach (var f in files)
                if (ParseSoVersion(Path.GetFileName(f)) is { } v) found.Add((v, f));
        }
        foreach (var (soname, version) in new[] { ("libnvrtc.so.13", new Version(13, 0)), ("libnvrtc.so.12", new Version(12, 0)), ("libnvrtc.so.11.2", new Version(11, 2)) })
            found.Add((version, soname));
        // Newest first; for one version, a file found on disk before a soname.
        return found.OrderByDescending(c => c.Version).ThenBy(c => c.Path.Contains('/') ? 0 : 1)
            .Select(c => c.Path).Distinct().ToList();
    }

    /// <summary>The version of libnvrtc.so.X[.Y[.Z]] (null for other names, e.g. libnvrtc-builtins).</summary>
    public static Version? ParseSoVersion(string fileName)
    {
        var m = SoVersionRegex().Match(fileName);
        if (!m.Success) return null;
        var parts = m.Groups[1].Value.Split('.').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        return parts.Length switch
        {
            1 => new Version(parts[0], 0),
            2 => new Version(parts[0], parts[1]),
            _ => new Version(parts[0], parts[1], parts[2]),
        };
    }

    static IEnumerable<string> LibraryDirectories()
    {
        foreach (var variable in new[] { "LD_LIBRARY_PATH" })
            if (Environment.GetEnvironmentVariable(variable) is { Length: > 0 } paths)
                foreach (var p in paths.Split(':', StringSplitOptions.RemoveEmptyEntries)) yield return p;
        yield return AppContext.BaseDirectory;
        if (Environment.GetEnvironmentVariable("CUDA_PATH") is { Length: > 0 } cuda) yield return Path.Combine(cuda, "lib64");
        if (Environment.GetEnvironmentVariable("CUDA_HOME") is { Length: > 0 } home) yield return Path.Combine(home, "lib64");
        yield return "/usr/local/cuda/lib64";
        yield return "/usr/local/cuda/targets/x86_64-linux/lib";
        yield return "/usr/lib/x86_64-linux-gnu";
        yield return "/lib/x86_64-linux-gnu";
        yield return "/usr/lib/aarch64-linux-gnu";
        yield return "/usr/lib64";
        yield return "/usr/lib";
        yield return "/opt/cuda/lib64";
    }

    [GeneratedRegex(@"^libnvrtc\.so\.(\d+(?:\.\d+){0,2})$")]
    private static partial Regex SoVersionRegex();
}
