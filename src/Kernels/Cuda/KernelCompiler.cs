using System.Text;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Kernels.Cuda;

/// <summary>A compiled module: a cubin for a real architecture, or PTX for the driver to compile.</summary>
public sealed record CompiledModule(string Architecture, byte[] Image, bool IsCubin, string Log, bool FromCache, IReadOnlyList<string> Options);

/// <summary>
/// Compiles a kernel source with NVRTC for one architecture and caches the result on disk
/// (<see cref="KernelCache"/>, <c>nvrtc/</c>) under a SHA-256 of the source, the options and NVRTC's version.
/// An entry's payload is "RFFK1\n", the log's and the image's lengths (4 bytes each), the log, the image.
/// </summary>
public static class KernelCompiler
{
    const string Magic = "RFFK1\n";

    /// <summary>NVRTC options for <paramref name="architecture"/> (sm_XY for a cubin, compute_XY for PTX).</summary>
    public static IReadOnlyList<string> Options(string architecture, bool verbose = false)
    {
        var options = new List<string> { $"--gpu-architecture={architecture}", "-default-device", "--std=c++17", "-lineinfo" };
        if (verbose) options.Add("--ptxas-options=-v");
        return options;
    }

    /// <summary>The NVRTC version string that goes into cache keys.</summary>
    public static string VersionKey(NvrtcLibrary nvrtc) => $"nvrtc {nvrtc.Version}";

    /// <summary>
    /// Compiles <paramref name="source"/> for <paramref name="architecture"/> ("sm_90": cubin; "compute_90": PTX).
    /// <paramref name="verbose"/> adds ptxas's resource usage to the log (<see cref="PtxasReport"/> parses it).
    /// <paramref name="cacheDirectory"/>: where cached modules live (default: the nvrtc/ directory of <see cref="KernelCache"/>).
    /// <paramref name="nvrtc"/>: the NVRTC to compile with (default: <see cref="Nvrtc.Default"/>).
    /// </summary>
    public static CompiledModule Compile(KernelSource source, string architecture, bool verbose = false, bool useCache = true,
        string? cacheDirectory = null, NvrtcLibrary? nvrtc = null)
    {
        nvrtc ??= Nvrtc.RequireDefault();
        var options = Options(architecture, verbose);
        bool cubin = architecture.StartsWith("sm_", StringComparison.Ordinal);
        string key = KernelCache.Key(["nvrtc", source.Text, source.Name, string.Join('\n', options), VersionKey(nvrtc)]);
        string path = Path.Combine(cacheDirectory is null ? KernelCache.Directory("nvrtc") : Directory.CreateDirectory(cacheDirectory).FullName, $"{architecture}-{key[..32]}.{(cubin ? "cubin" : "ptx")}.rff");
        if (useCache && KernelCache.Read(path) is { } cached)
        {
            if (TryUnpack(cached, out var image, out var cachedLog))
                return new CompiledModule(architecture, image, cubin, cachedLog, FromCache: true, options);
            KernelCache.Discard(path, "its content is not a compiled module");
        }

        var output = nvrtc.Compile(source.Text, source.Name, options);
        byte[] result = cubin
            ? output.Cubin ?? throw new NvrtcException($"{nvrtc} produced no cubin for {architecture}")
            : output.Ptx;
        if (useCache) KernelCache.TryWrite(path, Pack(result, output.Log));
        return new CompiledModule(architecture, result, cubin, output.Log, FromCache: false, options);
    }

    /// <summary>
    /// The architecture to build for a device of compute capability major.minor: sm_XY when NVRTC supports it
    /// (a cubin), else PTX for the newest virtual architecture NVRTC supports below it (the driver compiles it).
    /// </summary>
    public static string ArchitectureFor(int major, int minor, IReadOnlyList<int> supported) =>
        ArchitecturesFor(major, minor, supported) is [var first, ..] ? first
            : throw new NvrtcException($"NVRTC supports none of the architectures up to sm_{major * 10 + minor} (it knows {string.Join(", ", supported)})");

    /// <summary>
    /// What to build for a device of compute capability major.minor, best first: sm_XY when NVRTC supports it (a
    /// cubin), then PTX for the newest virtual architecture NVRTC supports up to it (the driver compiles it, which
    /// also serves when the driver rejects the cubin). Empty when NVRTC supports nothing up to the device.
    /// </summary>
    public static IReadOnlyList<string> ArchitecturesFor(int major, int minor, IReadOnlyList<int> supported)
    {
        int cc = major * 10 + minor;
        var lower = supported.Where(a => a <= cc).ToList();
        if (lower.Count == 0) return [];
        return supported.Contains(cc) ? [$"sm_{cc}", $"compute_{cc}"] : [$"compute_{lower.Max()}"];
    }

    static byte[] Pack(byte[] image, string log)
    {
        var logBytes = Encoding.UTF8.GetBytes(log);
        var header = Encoding.ASCII.GetBytes(Magic);
        var result = new byte[header.Length + 8 + logBytes.Length + image.Length];
        header.CopyTo(result, 0);
        BitConverter.TryWriteBytes(result.AsSpan(header.Length), logBytes.Length);
        BitConverter.TryWriteBytes(result.AsSpan(header.Length + 4), image.Length);
        logBytes.CopyTo(result, header.Length + 8);
        image.CopyTo(result, header.Length + 8 + logBytes.Length);
        return result;
    }

    static bool TryUnpack(byte[] data, out byte[] image, out string log)
    {
        image = [];
        log = "";
        int h = Magic.Length;
        if (data.Length < h + 8 || Encoding.ASCII.GetString(data, 0, h) != Magic) return false;
        int logLength = BitConverter.ToInt32(data, h), imageLength = BitConverter.ToInt32(data, h + 4);
        if (logLength < 0 || imageLength <= 0 || (long)h + 8 + logLength + imageLength != data.Length) return false;
        log = Encoding.UTF8.GetString(data, h + 8, logLength);
        image = data.AsSpan(h + 8 + logLength, imageLength).ToArray();
        return true;
    }
}
