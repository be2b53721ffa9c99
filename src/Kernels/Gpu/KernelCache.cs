using System.Security.Cryptography;
using System.Text;

namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// The on-disk cache of compiled kernels: NVRTC cubins/PTX (<c>nvrtc/</c>) and emulator libraries
/// (<c>emulator/</c>). Location: $RFF_KERNEL_CACHE, else $XDG_CACHE_HOME/rawflipflop/kernels, else
/// ~/.cache/rawflipflop/kernels (the temporary directory when there is no home). Entries are named by a SHA-256 of
/// everything that determines them and written atomically (a temporary file renamed into place), so concurrent
/// processes can share the cache.
/// </summary>
public static class KernelCache
{
    public const string EnvironmentVariable = "RFF_KERNEL_CACHE";

    /// <summary>The cache's root directory (not created).</summary>
    public static string Root
    {
        get
        {
            if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } dir) return Path.GetFullPath(dir);
            if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg) return Path.Combine(xdg, "rawflipflop", "kernels");
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            return string.IsNullOrEmpty(home)
                ? Path.Combine(Path.GetTempPath(), "rawflipflop", "kernels")
                : Path.Combine(home, ".cache", "rawflipflop", "kernels");
        }
    }

    /// <summary>The subdirectory <paramref name="kind"/> of the cache, created (in the temporary directory when the cache's is not writable).</summary>
    public static string Directory(string kind)
    {
        string dir = Path.Combine(Root, kind);
        try
        {
            System.IO.Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && Environment.GetEnvironmentVariable(EnvironmentVariable) is not { Length: > 0 })
        {
            dir = Path.Combine(Path.GetTempPath(), "rawflipflop", "kernels", kind);
            System.IO.Directory.CreateDirectory(dir);
        }
        return dir;
    }

    /// <summary>Hex SHA-256 over the parts, each followed by a NUL separator.</summary>
    public static string Key(params IEnumerable<string> parts)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var part in parts)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(part));
            hash.AppendData([0]);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    /// <summary>A temporary path beside <paramref name="path"/> (same directory, so a rename is atomic).</summary>
    public static string TempPathFor(string path) =>
        Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> bytes)
    {
        string temp = TempPathFor(path);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Moves a finished temporary file into place atomically.</summary>
    public static void Publish(string temp, string path)
    {
        try { File.Move(temp, path, overwrite: true); }
        catch { TryDelete(temp); throw; }
    }

    /// <summary>The entry's bytes, or null when absent or unreadable.</summary>
    public static byte[]? TryRead(string path)
    {
        try { return File.Exists(path) ? File.ReadAllBytes(path) : null; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    internal static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
