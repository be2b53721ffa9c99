using System.Runtime.InteropServices;
using System.Text;

namespace RawFlipFlop.Kernels.Cuda;

/// <summary>
/// One loaded libnvrtc, bound through function pointers rather than DllImport so that several versions can be
/// loaded side by side and the one the driver accepts chosen at run time (<see cref="NvrtcSelection"/>).
/// </summary>
public sealed unsafe class NvrtcLibrary
{
    const int NVRTC_SUCCESS = 0;
    const int NVRTC_ERROR_COMPILATION = 6;

    public string Path { get; }

    /// <summary>The CUDA version NVRTC reports (e.g. 11.8).</summary>
    public Version Version { get; }

    internal nint Handle { get; }

    public NvrtcCandidate Candidate => new(Path, Version);

    public override string ToString() => Candidate.ToString();

    readonly delegate* unmanaged<int, nint> _getErrorString;
    readonly delegate* unmanaged<int*, int> _getNumSupportedArchs;
    readonly delegate* unmanaged<int*, int> _getSupportedArchs;
    readonly delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int> _createProgram;
    readonly delegate* unmanaged<nint*, int> _destroyProgram;
    readonly delegate* unmanaged<nint, int, byte**, int> _compileProgram;
    readonly delegate* unmanaged<nint, nuint*, int> _getProgramLogSize;
    readonly delegate* unmanaged<nint, byte*, int> _getProgramLog;
    readonly delegate* unmanaged<nint, nuint*, int> _getPtxSize;
    readonly delegate* unmanaged<nint, byte*, int> _getPtx;
    readonly delegate* unmanaged<nint, nuint*, int> _getCubinSize;
    readonly delegate* unmanaged<nint, byte*, int> _getCubin;

    NvrtcLibrary(string path, nint handle)
    {
        Path = path;
        Handle = handle;
        _getErrorString = (delegate* unmanaged<int, nint>)Export("nvrtcGetErrorString");
        var version = (delegate* unmanaged<int*, int*, int>)Export("nvrtcVersion");
        _getNumSupportedArchs = (delegate* unmanaged<int*, int>)Export("nvrtcGetNumSupportedArchs");
        _getSupportedArchs = (delegate* unmanaged<int*, int>)Export("nvrtcGetSupportedArchs");
        _createProgram = (delegate* unmanaged<nint*, byte*, byte*, int, byte**, byte**, int>)Export("nvrtcCreateProgram");
        _destroyProgram = (delegate* unmanaged<nint*, int>)Export("nvrtcDestroyProgram");
        _compileProgram = (delegate* unmanaged<nint, int, byte**, int>)Export("nvrtcCompileProgram");
        _getProgramLogSize = (delegate* unmanaged<nint, nuint*, int>)Export("nvrtcGetProgramLogSize");
        _getProgramLog = (delegate* unmanaged<nint, byte*, int>)Export("nvrtcGetProgramLog");
        _getPtxSize = (delegate* unmanaged<nint, nuint*, int>)Export("nvrtcGetPTXSize");
        _getPtx = (delegate* unmanaged<nint, byte*, int>)Export("nvrtcGetPTX");
        _getCubinSize = (delegate* unmanaged<nint, nuint*, int>)Export("nvrtcGetCUBINSize");
        _getCubin = (delegate* unmanaged<nint, byte*, int>)Export("nvrtcGetCUBIN");
        int major, minor, rc = version(&major, &minor);
        if (rc != NVRTC_SUCCESS) throw new NvrtcException($"nvrtcVersion ({path})", rc, ErrorString(rc));
        Version = new Version(major, minor);
    }

    /// <summary>Loads the libnvrtc at <paramref name="path"/> (a file or a soname), or says why it cannot.</summary>
    public static NvrtcLibrary? TryLoad(string path, out string reason)
    {
        if (path.Contains('/')) PreloadBuiltins(System.IO.Path.GetDirectoryName(path)!);
        if (!NativeLibrary.TryLoad(path, out nint handle))
        {
            reason = "does not load as a library (not found, or not for this machine)";
            return null;
        }
        try
        {
            reason = "";
            return new NvrtcLibrary(path, handle);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or NvrtcException)
        {
            reason = $"not a usable NVRTC: {e.Message}";
            return null;
        }
    }

    /// <summary>
    /// NVRTC opens libnvrtc-builtins by soname; loading the copy beside a libnvrtc found in a directory the loader
    /// does not search (e.g. next to the application) first lets that succeed.
    /// </summary>
    static void PreloadBuiltins(string directory)
    {
        try
        {
            foreach (var f in Directory.GetFiles(directory, "libnvrtc-builtins.so*").OrderByDescending(f => f.Length))
                if (NativeLibrary.TryLoad(f, out _)) return;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    nint Export(string name) =>
        NativeLibrary.TryGetExport(Handle, name, out nint f) ? f : throw new EntryPointNotFoundException($"{Path} has no {name}");

    /// <summary>The real architectures this NVRTC can compile for (e.g. 80 for sm_80).</summary>
    public IReadOnlyList<int> SupportedArchitectures
    {
        get
        {
            int n;
            Check(_getNumSupportedArchs(&n), "nvrtcGetNumSupportedArchs");
            var archs = new int[n];
            fixed (int* p = archs) Check(_getSupportedArchs(p), "nvrtcGetSupportedArchs");
            return archs;
        }
    }

    /// <summary>
    /// Compiles <paramref name="source"/> with <paramref name="options"/>. With <c>--gpu-architecture=sm_XY</c> the
    /// output has a cubin; with <c>compute_XY</c> only PTX. A compilation error throws with the full log.
    /// </summary>
    public NvrtcOutput Compile(string source, string name, IReadOnlyList<string> options)
    {
        nint program;
        byte[] src = Utf8z(source), file = Utf8z(name);
        fixed (byte* s = src, f = file)
            Check(_createProgram(&program, s, f, 0, null, null), "nvrtcCreateProgram");
        try
        {
            var optionBytes = options.Select(Utf8z).ToArray();
            var handles = optionBytes.Select(b => GCHandle.Alloc(b, GCHandleType.Pinned)).ToArray();
            int rc;
            try
            {
                var pointers = stackalloc byte*[Math.Max(1, handles.Length)];
                for (int i = 0; i < handles.Length; i++) pointers[i] = (byte*)handles[i].AddrOfPinnedObject();
                rc = _compileProgram(program, handles.Length, pointers);
            }
            finally
            {
                foreach (var h in handles) h.Free();
            }
            string log = GetLog(program);
            if (rc != NVRTC_SUCCESS)
                throw new NvrtcException($"nvrtcCompileProgram of {name} ({string.Join(' ', options)}) with {this}", rc, ErrorString(rc),
                    rc == NVRTC_ERROR_COMPILATION ? log : log.Length > 0 ? log : "");
            nuint ptxSize, cubinSize;
            Check(_getPtxSize(program, &ptxSize), "nvrtcGetPTXSize");
            var ptx = new byte[(int)ptxSize];
            fixed (byte* p = ptx) Check(_getPtx(program, p), "nvrtcGetPTX");
            byte[]? cubin = null;
            if (_getCubinSize(program, &cubinSize) == NVRTC_SUCCESS && cubinSize > 0)
            {
                cubin = new byte[(int)cubinSize];
                fixed (byte* p = cubin) Check(_getCubin(program, p), "nvrtcGetCUBIN");
            }
            return new NvrtcOutput(cubin, ptx, log);
        }
        finally
        {
            _destroyProgram(&program);
        }
    }

    string GetLog(nint program)
    {
        nuint size;
        if (_getProgramLogSize(program, &size) != NVRTC_SUCCESS || size <= 1) return "";
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes)
            if (_getProgramLog(program, p) != NVRTC_SUCCESS) return "";
        return Encoding.UTF8.GetString(bytes, 0, Math.Max(0, bytes.Length - 1)).TrimEnd('\0');
    }

    /// <summary>NVRTC's description of an error code.</summary>
    public string ErrorString(int code) => Marshal.PtrToStringUTF8(_getErrorString(code)) ?? "?";

    static byte[] Utf8z(string s)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(s) + 1];
        Encoding.UTF8.GetBytes(s, bytes);
        return bytes;
    }

    void Check(int rc, string call)
    {
        if (rc != NVRTC_SUCCESS) throw new NvrtcException($"{call} ({this})", rc, ErrorString(rc));
    }
}
