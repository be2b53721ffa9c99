using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Kernels.Emulator;

/// <summary>A kernel the emulator library registered from the kernel table, with its parameter types.</summary>
/// <param name="Signature">One letter per parameter: p pointer, i int, u unsigned, l long long, L unsigned long long, f float, d double.</param>
public sealed record EmulatedKernel(string Name, string Signature);

/// <summary>An error of the emulator: a kernel's fault, a barrier problem, bad arguments, or a failed build.</summary>
public sealed class EmulatorException(string message) : Exception(message);

/// <summary>
/// A CUDA source (kernels.cu or a test source in its conventions) compiled as C++ with g++ together with
/// cuda_emulator.h (and cuda_emulator_tensor.h, which it includes), loaded into the process. Built on first use and
/// cached on disk (<see cref="KernelCache"/>, <c>emulator/</c>) under a SHA-256 of the headers, the source, the flags and the compiler's version; the entry's
/// content hash is checked before it is loaded.
/// Before compiling, <c>extern __shared__ T name[];</c> becomes <c>T* name = (T*)rff_emu_dynamic_shared();</c>
/// (dynamic shared memory); nothing else of the source changes and its line numbers are kept.
/// The compiler is $RFF_CXX or g++.
/// </summary>
public sealed unsafe partial class EmulatorLibrary
{
    /// <summary>
    /// The g++ flags (part of the cache key). -fstack-clash-protection makes large stack frames touch every page, so
    /// an emulated thread that overflows its stack hits its guard page instead of another thread's stack.
    /// </summary>
    public const string Flags = "-std=gnu++17 -O2 -g0 -fPIC -shared -pthread -fno-strict-aliasing -fstack-clash-protection -fvisibility=hidden -fvisibility-inlines-hidden -Wall -Wno-unknown-pragmas -Wno-unused-function -Wno-unused-variable";

    static readonly ConcurrentDictionary<string, Lazy<EmulatorLibrary>> s_loaded = new();
    static readonly Lazy<(string? Version, string Reason)> s_compiler = new(ProbeCompiler);

    public KernelSource Source { get; }

    /// <summary>Path of the shared library.</summary>
    public string Path { get; }

    /// <summary>True when this process compiled it (false: taken from the cache).</summary>
    public bool Compiled { get; }

    public IReadOnlyList<EmulatedKernel> Kernels { get; }

    readonly Dictionary<string, EmulatedKernel> _kernels;
    readonly delegate* unmanaged<byte*, uint*, uint*, ulong, NativeArg*, int, NativeOptions*, byte*, int, int> _launch;
    readonly delegate* unmanaged<uint, ulong, long> _cooperativeBlocks;

    EmulatorLibrary(KernelSource source, string path, bool compiled, nint handle)
    {
        Source = source;
        Path = path;
        Compiled = compiled;
        _launch = (delegate* unmanaged<byte*, uint*, uint*, ulong, NativeArg*, int, NativeOptions*, byte*, int, int>)
            NativeLibrary.GetExport(handle, "rff_emu_launch");
        _cooperativeBlocks = (delegate* unmanaged<uint, ulong, long>)NativeLibrary.GetExport(handle, "rff_emu_cooperative_blocks");
        var count = (delegate* unmanaged<int>)NativeLibrary.GetExport(handle, "rff_emu_kernel_count");
        var name = (delegate* unmanaged<int, byte*>)NativeLibrary.GetExport(handle, "rff_emu_kernel_name");
        var signature = (delegate* unmanaged<int, byte*>)NativeLibrary.GetExport(handle, "rff_emu_kernel_signature");
        var kernels = new List<EmulatedKernel>();
        for (int i = 0, n = count(); i < n; i++)
            kernels.Add(new EmulatedKernel(Marshal.PtrToStringUTF8((nint)name(i))!, Marshal.PtrToStringUTF8((nint)signature(i))!));
        Kernels = kernels;
        _kernels = kernels.ToDictionary(k => k.Name);
    }

    /// <summary>kernels.cu's emulator library (built or loaded on first use).</summary>
    public static EmulatorLibrary Default => s_default.Value;

    static readonly Lazy<EmulatorLibrary> s_default = new(() => Load(KernelSource.Default));

    /// <summary>The emulator library of <paramref name="source"/>: from this process, the disk cache, or built now.</summary>
    public static EmulatorLibrary Load(KernelSource source)
    {
        var (headers, unit, key) = Identify(source);
        return s_loaded.GetOrAdd(key, k => new Lazy<EmulatorLibrary>(() => BuildOrOpen(source, headers, unit, k, KernelCache.Directory("emulator")))).Value;
    }

    /// <summary>
    /// The emulator library of <paramref name="source"/> from the cache directory <paramref name="cacheDirectory"/>
    /// (built there when it has no valid entry), loaded anew: not shared with <see cref="Load"/> (for tests and tools).
    /// </summary>
    public static EmulatorLibrary LoadFrom(KernelSource source, string cacheDirectory)
    {
        var (headers, unit, key) = Identify(source);
        return BuildOrOpen(source, headers, unit, key, System.IO.Directory.CreateDirectory(cacheDirectory).FullName);
    }

    /// <summary>Whether a C++ compiler is available; otherwise why not.</summary>
    public static bool IsCompilerAvailable(out string reason)
    {
        var (version, why) = s_compiler.Value;
        reason = version == null ? why : "";
        return version != null;
    }

    static string Compiler => Environment.GetEnvironmentVariable("RFF_CXX") is { Length: > 0 } cxx ? cxx : "g++";

    static (string? Version, string Reason) ProbeCompiler()
    {
        try
        {
            var (code, output) = Run(Compiler, ["--version"], Environment.CurrentDirectory);
            return code == 0
                ? (output.Split('\n')[0].Trim(), "")
                : (null, $"the emulator needs a C++ compiler: '{Compiler} --version' failed: {output.Trim()}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (null, $"the emulator needs a C++ compiler: cannot run '{Compiler}' ({e.Message}); install g++ or set RFF_CXX");
        }
    }

    /// <summary>The C++ translation unit for <paramref name="source"/> (the header is included from the build directory).</summary>
    public static string TranslationUnit(KernelSource source)
    {
        var sb = new StringBuilder();
        sb.Append("#include \"cuda_emulator.h\"\n");
        sb.Append("#line 1 \"").Append(source.Name).Append("\"\n");
        sb.Append(DynamicSharedRegex().Replace(source.Text, m => $"{m.Groups[1].Value}* {m.Groups[2].Value} = ({m.Groups[1].Value}*)rff_emu_dynamic_shared();"));
        sb.Append("\n#line 1 \"rff_emu_registration\"\n");
        sb.Append("RFF_EMU_REGISTER(RFF_KERNEL_TABLE)\n");
        return sb.ToString();
    }

    static (int Code, string Output) Run(string file, IEnumerable<string> args, string workingDirectory)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info) ?? throw new EmulatorException($"cannot start {file}");
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout + stderr.Result);
    }

    public EmulatedKernel Kernel(string name) =>
        _kernels.TryGetValue(name, out var k) ? k
            : throw new EmulatorException($"no kernel named '{name}' in the kernel table of {Source.Name}");

    /// <summary>
    /// The largest grid of <paramref name="threads"/>-thread blocks with <paramref name="sharedBytes"/> of dynamic shared
    /// memory that a cooperative launch accepts: what an H100 keeps resident (132 SMs of 2048 threads, 32 blocks, 228 KiB
    /// of shared memory, 1 KiB reserved per block; registers are not modelled). 0 when one block does not fit.
    /// </summary>
    public int CooperativeBlocks(int threads, int sharedBytes) => (int)_cooperativeBlocks((uint)threads, (ulong)sharedBytes);

    /// <summary>Runs a kernel; arguments carry the allocation bounds of pointers (for fault messages).</summary>
    internal void Launch(string kernel, Dim3Native grid, Dim3Native block, int sharedBytes, ReadOnlySpan<NativeArg> args, in NativeOptions options)
    {
        const int capacity = 4096;
        byte* error = stackalloc byte[capacity];
        error[0] = 0;
        int nameBytes = Encoding.UTF8.GetByteCount(kernel);
        byte* name = stackalloc byte[nameBytes + 1];
        Encoding.UTF8.GetBytes(kernel, new Span<byte>(name, nameBytes));
        name[nameBytes] = 0;
        int rc;
        fixed (NativeArg* a = args)
        fixed (NativeOptions* o = &options)
            rc = _launch(name, &grid.X, &block.X, (ulong)sharedBytes, a, args.Length, o, error, capacity);
        if (rc != 0) throw new EmulatorException(Marshal.PtrToStringUTF8((nint)error) ?? "emulator launch failed");
    }

    [GeneratedRegex(@"extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_][\w:]*)\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([A-Za-z_]\w*)\s*\[\s*\]\s*;")]
    private static partial Regex DynamicSharedRegex();
}

[StructLayout(LayoutKind.Sequential)]
internal struct Dim3Native
{
    public uint X, Y, Z;
    public Dim3Native(Devices.Dim3 d) { X = d.X; Y = d.Y; Z = d.Z; }
}

/// <summary>rff_emu::Arg.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeArg
{
    public ulong Bits;
    public int Kind;
    public int Reserved;
    public ulong Lo, Hi;
}

/// <summary>rff_emu::Options.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NativeOptions
{
    public ulong Seed;
    public int Shuffle;
    public int Threads;
    public int StackKib;
    public int Cooperative;
}
