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
/// cuda_emulator.h, loaded into the process. Built on first use and cached on disk (<see cref="KernelCache"/>,
/// <c>emulator/</c>) under a SHA-256 of the header, the source, the flags and the compiler's version; the entry's
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

    // The verified cache files libraries were loaded through, open for good like the libraries: see LoadablePath.
    static readonly ConcurrentBag<FileStream> s_loadedFiles = [];

    EmulatorLibrary(KernelSource source, string path, bool compiled, nint handle)
    {
        Source = source;
        Path = path;
        Compiled = compiled;
        _launch = (delegate* unmanaged<byte*, uint*, uint*, ulong, NativeArg*, int, NativeOptions*, byte*, int, int>)
            NativeLibrary.GetExport(handle, "rff_emu_launch");
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
        var (header, unit, key) = Identify(source);
        return s_loaded.GetOrAdd(key, k => new Lazy<EmulatorLibrary>(() => BuildOrOpen(source, header, unit, k, KernelCache.Directory("emulator")))).Value;
    }

    /// <summary>
    /// The emulator library of <paramref name="source"/> from the cache directory <paramref name="cacheDirectory"/>
    /// (built there when it has no valid entry), loaded anew: not shared with <see cref="Load"/> (for tests and tools).
    /// </summary>
    public static EmulatorLibrary LoadFrom(KernelSource source, string cacheDirectory)
    {
        var (header, unit, key) = Identify(source);
        return BuildOrOpen(source, header, unit, key, System.IO.Directory.CreateDirectory(cacheDirectory).FullName);
    }

    /// <summary>The path of <paramref name="source"/>'s entry in the cache directory <paramref name="cacheDirectory"/>.</summary>
    public static string EntryPath(KernelSource source, string cacheDirectory) => EntryPath(source, Identify(source).Key, cacheDirectory);

    static string EntryPath(KernelSource source, string key, string cacheDirectory) =>
        System.IO.Path.Combine(cacheDirectory, $"{System.IO.Path.GetFileNameWithoutExtension(source.Name)}-{key[..24]}.so");

    /// <summary>What is compiled for <paramref name="source"/>, and the cache key of the result.</summary>
    static (string Header, string Unit, string Key) Identify(KernelSource source)
    {
        string header = KernelSource.ReadResource("cuda_emulator.h");
        string unit = TranslationUnit(source);
        var (version, reason) = s_compiler.Value;
        if (version == null) throw new EmulatorException(reason);
        return (header, unit, KernelCache.Key("emulator", header, unit, Flags, version));
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

    /// <summary>
    /// Loads the cache entry when it verifies (<see cref="KernelCache.OpenVerified"/>: a damaged one is discarded,
    /// never loaded), else builds it, publishes it by rename with its hash, and loads what was published.
    /// </summary>
    static EmulatorLibrary BuildOrOpen(KernelSource source, string header, string unit, string key, string dir)
    {
        string path = EntryPath(source, key, dir);
        if (KernelCache.OpenVerified(path, out _) is { } cached)
        {
            if (TryOpen(source, path, cached, compiled: false, out var library, out string error)) return library!;
            // A verified entry that no longer loads (e.g. a system library it needs changed): build it again.
            KernelCache.Discard(path, $"it does not load ({error})");
        }
        try
        {
            Build(source, header, unit, dir, path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new EmulatorException($"cannot build the emulator library of {source.Name} in the kernel cache ({dir}): {e.Message}; " +
                                        $"set {KernelCache.EnvironmentVariable} to a writable directory");
        }
        var built = KernelCache.OpenVerified(path, out _)
                    ?? throw new EmulatorException($"the emulator library just built for {source.Name} did not verify in the cache ({path})");
        return TryOpen(source, path, built, compiled: true, out var fresh, out string why) ? fresh!
            : throw new EmulatorException($"the emulator library built for {source.Name} does not load ({path}): {why}");
    }

    static void Build(KernelSource source, string header, string unit, string dir, string path)
    {
        string work = System.IO.Path.Combine(dir, $".build-{Environment.ProcessId}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(work);
        try
        {
            File.WriteAllText(System.IO.Path.Combine(work, "cuda_emulator.h"), header);
            File.WriteAllText(System.IO.Path.Combine(work, "unit.cpp"), unit);
            string output = System.IO.Path.Combine(work, "lib.so");
            var args = Flags.Split(' ', StringSplitOptions.RemoveEmptyEntries).Concat(["-o", output, "unit.cpp"]).ToList();
            var (code, log) = Run(Compiler, args, work);
            if (code != 0)
                throw new EmulatorException($"compiling {source.Name} for the emulator failed ({Compiler} {string.Join(' ', args)}):\n{log}");
            KernelCache.Write(path, File.ReadAllBytes(output));
        }
        finally
        {
            try { System.IO.Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Loads a verified entry; on failure says why.</summary>
    static bool TryOpen(KernelSource source, string path, FileStream file, bool compiled, out EmulatorLibrary? library, out string error)
    {
        library = null;
        nint handle;
        string loadable = LoadablePath(file, path);
        try
        {
            handle = NativeLibrary.Load(loadable);
        }
        catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
        {
            file.Dispose();
            error = LoaderError(e.Message, loadable, path);
            return false;
        }
        s_loadedFiles.Add(file);  // loaded for good now, so its descriptor stays open (see LoadablePath)
        try
        {
            library = new EmulatorLibrary(source, path, compiled, handle);
            error = "";
            return true;
        }
        catch (EntryPointNotFoundException e)
        {
            error = e.Message;
            return false;
        }
    }

    /// <summary>The loader's own words (the last line of .NET's message), naming the entry rather than its descriptor.</summary>
    static string LoaderError(string message, string loadable, string path)
    {
        string last = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).LastOrDefault() ?? message;
        return last.Replace(loadable, path, StringComparison.Ordinal);
    }

    /// <summary>
    /// On Linux the open file's /proc/self/fd path: the loader then maps the very file whose bytes were verified,
    /// even if another process renames a new entry over the name meanwhile. The descriptor stays open for as long
    /// as the library stays loaded (for good), so its number, which the loader remembers as the library's name, is
    /// never reused for another library (the loader would hand back the first).
    /// </summary>
    static string LoadablePath(FileStream file, string path) =>
        OperatingSystem.IsLinux() && System.IO.Directory.Exists("/proc/self/fd") ? $"/proc/self/fd/{file.SafeFileHandle.DangerousGetHandle()}" : path;

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
    public int Reserved;
}
