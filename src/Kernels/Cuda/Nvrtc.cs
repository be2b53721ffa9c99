namespace RawFlipFlop.Kernels.Cuda;

/// <summary>An NVRTC failure: the NVRTC error, and for a compilation the full log.</summary>
public sealed class NvrtcException : Exception
{
    public NvrtcException(string call, int code, string description, string log = "")
        : base($"{call} failed: {Nvrtc.ErrorName(code)} ({code}): {description}" + (log.Length > 0 ? $"\n{log}" : ""))
    {
        Code = code;
        Log = log;
    }

    public NvrtcException(string message) : base(message) { Log = ""; }

    /// <summary>nvrtcResult (0 when the failure was not NVRTC's own).</summary>
    public int Code { get; }

    /// <summary>The compilation log (empty for other failures).</summary>
    public string Log { get; }
}

/// <summary>The result of one compilation.</summary>
/// <param name="Cubin">Device code for a real architecture (sm_XY), or null when compiled for a virtual one.</param>
/// <param name="Ptx">The PTX (always produced).</param>
public sealed record NvrtcOutput(byte[]? Cubin, byte[] Ptx, string Log);

/// <summary>
/// NVRTC, the CUDA run-time compiler: the libraries found (<see cref="NativeLibraries.NvrtcCandidates"/>, or
/// $RFF_NVRTC_LIBRARY alone), in the order <see cref="NvrtcSelection"/> gives for the installed driver (what a GPU
/// uses), and <see cref="Default"/> for callers that only compile.
/// </summary>
public static class Nvrtc
{
    /// <summary>
    /// The NVRTCs that load (<paramref name="Loaded"/>, newest first), those to try with this machine's driver in
    /// order (<paramref name="Order"/>), and each candidate left out of the order with its path and reason.
    /// </summary>
    public sealed record Libraries(IReadOnlyList<NvrtcLibrary> Loaded, IReadOnlyList<NvrtcLibrary> Order, IReadOnlyList<string> NotUsed, Version? Driver);

    static readonly Lazy<Libraries> s_libraries = new(Find);

    /// <summary>The NVRTCs to try, best first, and the candidates not used (each with its path and reason).</summary>
    public static Libraries Found => s_libraries.Value;

    /// <summary>
    /// The NVRTC for compiling without loading the result (e.g. a kernel report): the first in the driver's order,
    /// else the newest that loads, since code a driver is too old for still compiles. Null when none loads.
    /// </summary>
    public static NvrtcLibrary? Default => Found.Order.FirstOrDefault() ?? Found.Loaded.FirstOrDefault();

    /// <summary>Whether an NVRTC loads; otherwise why not (every candidate with its reason).</summary>
    public static bool IsAvailable(out string reason)
    {
        var found = Found;
        reason = found.Loaded.Count > 0 ? ""
            : $"no usable NVRTC: {string.Join("; ", found.NotUsed)}. Install libnvrtc (Debian: libnvrtc11.2 from non-free) or set {NativeLibraries.NvrtcVariable} to its path";
        return found.Loaded.Count > 0;
    }

    /// <summary><see cref="Default"/>, or an <see cref="NvrtcException"/> saying why there is none.</summary>
    public static NvrtcLibrary RequireDefault()
    {
        if (Default is { } library) return library;
        IsAvailable(out string reason);
        throw new NvrtcException(reason);
    }

    /// <summary>The default library's path (for reports).</summary>
    public static string LibraryPath => Default?.Path ?? "";

    /// <summary>The default NVRTC's version (e.g. 11.8).</summary>
    public static Version Version => RequireDefault().Version;

    /// <summary>The real architectures the default NVRTC can compile for (e.g. 80 for sm_80).</summary>
    public static IReadOnlyList<int> SupportedArchitectures => RequireDefault().SupportedArchitectures;

    /// <summary>Compiles with the default NVRTC (<see cref="NvrtcLibrary.Compile"/>).</summary>
    public static NvrtcOutput Compile(string source, string name, IReadOnlyList<string> options) => RequireDefault().Compile(source, name, options);

    static Libraries Find()
    {
        var notUsed = new List<string>();
        var loaded = new List<NvrtcLibrary>();
        bool explicitFile = Environment.GetEnvironmentVariable(NativeLibraries.NvrtcVariable) is { Length: > 0 };
        foreach (var path in NativeLibraries.NvrtcCandidates())
        {
            var library = NvrtcLibrary.TryLoad(path, out string reason);
            if (library == null) notUsed.Add(explicitFile ? $"{NativeLibraries.NvrtcVariable}={path} {reason}" : $"{path}: {reason}");
            else if (loaded.All(l => l.Handle != library.Handle)) loaded.Add(library);  // a soname and the file it names are one library
        }
        var candidates = loaded.Select(l => l.Candidate).ToList();
        Version? driver = CudaDriver.TryGetVersion(out _);
        var plan = NvrtcSelection.Choose(candidates, driver);
        foreach (var (candidate, reason) in plan.LeftOut) notUsed.Add($"{candidate}: {reason}");
        return new Libraries(InOrder(NvrtcSelection.Choose(candidates, driver: null).Order), InOrder(plan.Order), notUsed, driver);

        List<NvrtcLibrary> InOrder(IEnumerable<NvrtcCandidate> order) => [.. order.Select(c => loaded.First(l => l.Path == c.Path))];
    }

    /// <summary>The nvrtcResult enumerator's name.</summary>
    public static string ErrorName(int code) => code switch
    {
        0 => "NVRTC_SUCCESS",
        1 => "NVRTC_ERROR_OUT_OF_MEMORY",
        2 => "NVRTC_ERROR_PROGRAM_CREATION_FAILURE",
        3 => "NVRTC_ERROR_INVALID_INPUT",
        4 => "NVRTC_ERROR_INVALID_PROGRAM",
        5 => "NVRTC_ERROR_INVALID_OPTION",
        6 => "NVRTC_ERROR_COMPILATION",
        7 => "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE",
        8 => "NVRTC_ERROR_NO_NAME_EXPRESSIONS_AFTER_COMPILATION",
        9 => "NVRTC_ERROR_NO_LOWERED_NAMES_BEFORE_COMPILATION",
        10 => "NVRTC_ERROR_NAME_EXPRESSION_NOT_VALID",
        11 => "NVRTC_ERROR_INTERNAL_ERROR",
        12 => "NVRTC_ERROR_TIME_FILE_WRITE_FAILED",
        _ => $"NVRTC_ERROR_{code}",
    };
}
