using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Kernels.Emulator;

/// <summary>Getting an emulator library from the kernel cache, verified, or building and publishing it.</summary>
public sealed unsafe partial class EmulatorLibrary
{
    // The verified cache files libraries were loaded through, open for good like the libraries: see LoadablePath.
    static readonly ConcurrentBag<FileStream> s_loadedFiles = [];

    /// <summary>The path of <paramref name="source"/>'s entry in the cache directory <paramref name="cacheDirectory"/>.</summary>
    public static string EntryPath(KernelSource source, string cacheDirectory) => EntryPath(source, Identify(source).Key, cacheDirectory);

    static string EntryPath(KernelSource source, string key, string cacheDirectory) =>
        System.IO.Path.Combine(cacheDirectory, $"{System.IO.Path.GetFileNameWithoutExtension(source.Name)}-{key[..24]}.so");

    /// <summary>The emulator's headers (embedded resources of these names), written beside the translation unit.</summary>
    static readonly string[] HeaderNames = ["cuda_emulator.h", "cuda_emulator_tensor.h"];

    /// <summary>What is compiled for <paramref name="source"/> (the headers by name, the unit), and the cache key of the result.</summary>
    static ((string Name, string Text)[] Headers, string Unit, string Key) Identify(KernelSource source)
    {
        var headers = HeaderNames.Select(name => (Name: name, Text: KernelSource.ReadResource(name))).ToArray();
        string unit = TranslationUnit(source);
        var (version, reason) = s_compiler.Value;
        if (version == null) throw new EmulatorException(reason);
        return (headers, unit, KernelCache.Key(["emulator", .. headers.SelectMany(h => new[] { h.Name, h.Text }), unit, Flags, version]));
    }

    /// <summary>
    /// Loads the cache entry when it verifies (<see cref="KernelCache.OpenVerified"/>: a damaged one is discarded,
    /// never loaded), else builds it, publishes it by rename with its hash, and loads what was published.
    /// </summary>
    static EmulatorLibrary BuildOrOpen(KernelSource source, (string Name, string Text)[] headers, string unit, string key, string dir)
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
            Build(source, headers, unit, dir, path);
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

    static void Build(KernelSource source, (string Name, string Text)[] headers, string unit, string dir, string path)
    {
        string work = System.IO.Path.Combine(dir, $".build-{Environment.ProcessId}-{Guid.NewGuid():N}");
        System.IO.Directory.CreateDirectory(work);
        try
        {
            foreach (var (name, text) in headers) File.WriteAllText(System.IO.Path.Combine(work, name), text);
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
}
