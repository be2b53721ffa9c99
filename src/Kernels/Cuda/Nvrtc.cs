using System.Runtime.InteropServices;
using System.Text;

namespace RawFlipFlop.Kernels.Cuda;

/// <summary>An NVRTC failure: the NVRTC error, and for a compilation the full log.</summary>
public sealed class NvrtcException : Exception
{
    public NvrtcException(string call, int code, string log = "")
        : base($"{call} failed: {Nvrtc.ErrorName(code)} ({code}): {Nvrtc.ErrorString(code)}" + (log.Length > 0 ? $"\n{log}" : ""))
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

/// <summary>NVRTC, the CUDA run-time compiler: bindings and a compile call.</summary>
public static unsafe partial class Nvrtc
{
    const int NVRTC_SUCCESS = 0;
    const int NVRTC_ERROR_COMPILATION = 6;

    static Nvrtc() => NativeLibraries.Register();

    /// <summary>Whether NVRTC loads; otherwise why not.</summary>
    public static bool IsAvailable(out string reason)
    {
        bool ok = NativeLibraries.TryNvrtc(out string pathOrReason);
        reason = ok ? "" : pathOrReason;
        return ok;
    }

    /// <summary>The loaded library's path (for reports).</summary>
    public static string LibraryPath => NativeLibraries.TryNvrtc(out string p) ? p : "";

    /// <summary>NVRTC's version (e.g. 11.8).</summary>
    public static Version Version
    {
        get
        {
            Check(nvrtcVersion(out int major, out int minor), "nvrtcVersion");
            return new Version(major, minor);
        }
    }

    /// <summary>The real architectures NVRTC can compile for (e.g. 80 for sm_80).</summary>
    public static IReadOnlyList<int> SupportedArchitectures
    {
        get
        {
            Check(nvrtcGetNumSupportedArchs(out int n), "nvrtcGetNumSupportedArchs");
            var archs = new int[n];
            fixed (int* p = archs) Check(nvrtcGetSupportedArchs(p), "nvrtcGetSupportedArchs");
            return archs;
        }
    }

    /// <summary>
    /// Compiles <paramref name="source"/> with <paramref name="options"/>. With <c>--gpu-architecture=sm_XY</c> the
    /// output has a cubin; with <c>compute_XY</c> only PTX. A compilation error throws with the full log.
    /// </summary>
    public static NvrtcOutput Compile(string source, string name, IReadOnlyList<string> options)
    {
        nint program;
        byte[] src = Utf8z(source), file = Utf8z(name);
        fixed (byte* s = src, f = file)
            Check(nvrtcCreateProgram(out program, s, f, 0, null, null), "nvrtcCreateProgram");
        try
        {
            var optionBytes = options.Select(Utf8z).ToArray();
            var handles = optionBytes.Select(b => GCHandle.Alloc(b, GCHandleType.Pinned)).ToArray();
            int rc;
            try
            {
                var pointers = stackalloc byte*[Math.Max(1, handles.Length)];
                for (int i = 0; i < handles.Length; i++) pointers[i] = (byte*)handles[i].AddrOfPinnedObject();
                rc = nvrtcCompileProgram(program, handles.Length, pointers);
            }
            finally
            {
                foreach (var h in handles) h.Free();
            }
            string log = GetLog(program);
            if (rc != NVRTC_SUCCESS)
                throw new NvrtcException($"nvrtcCompileProgram of {name} ({string.Join(' ', options)})", rc,
                    rc == NVRTC_ERROR_COMPILATION ? log : log.Length > 0 ? log : "");
            Check(nvrtcGetPTXSize(program, out nuint ptxSize), "nvrtcGetPTXSize");
            var ptx = new byte[(int)ptxSize];
            fixed (byte* p = ptx) Check(nvrtcGetPTX(program, p), "nvrtcGetPTX");
            byte[]? cubin = null;
            if (nvrtcGetCUBINSize(program, out nuint cubinSize) == NVRTC_SUCCESS && cubinSize > 0)
            {
                cubin = new byte[(int)cubinSize];
                fixed (byte* p = cubin) Check(nvrtcGetCUBIN(program, p), "nvrtcGetCUBIN");
            }
            return new NvrtcOutput(cubin, ptx, log);
        }
        finally
        {
            nvrtcDestroyProgram(ref program);
        }
    }

    static string GetLog(nint program)
    {
        if (nvrtcGetProgramLogSize(program, out nuint size) != NVRTC_SUCCESS || size <= 1) return "";
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes)
            if (nvrtcGetProgramLog(program, p) != NVRTC_SUCCESS) return "";
        return Encoding.UTF8.GetString(bytes, 0, Math.Max(0, bytes.Length - 1)).TrimEnd('\0');
    }

    static byte[] Utf8z(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }

    static void Check(int rc, string call)
    {
        if (rc != NVRTC_SUCCESS) throw new NvrtcException(call, rc);
    }

    /// <summary>NVRTC's description of an error code.</summary>
    public static string ErrorString(int code)
    {
        try { return Marshal.PtrToStringUTF8(nvrtcGetErrorString(code)) ?? "?"; }
        catch (DllNotFoundException) { return "?"; }
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

    [LibraryImport(NativeLibraries.Nvrtc)] private static partial nint nvrtcGetErrorString(int result);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcVersion(out int major, out int minor);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcGetNumSupportedArchs(out int count);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcGetSupportedArchs(int* archs);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcCreateProgram(out nint program, byte* source, byte* name, int numHeaders, byte** headers, byte** includeNames);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcDestroyProgram(ref nint program);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcCompileProgram(nint program, int numOptions, byte** options);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcGetProgramLogSize(nint program, out nuint size);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcGetProgramLog(nint program, byte* log);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcGetPTXSize(nint program, out nuint size);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcGetPTX(nint program, byte* ptx);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcGetCUBINSize(nint program, out nuint size);
    [LibraryImport(NativeLibraries.Nvrtc)] private static partial int nvrtcGetCUBIN(nint program, byte* cubin);
}
