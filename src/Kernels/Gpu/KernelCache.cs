using System.Security.Cryptography;
using System.Text;

namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// The on-disk cache of compiled kernels: NVRTC cubins/PTX (<c>nvrtc/</c>) and emulator libraries
/// (<c>emulator/</c>). Location: $RFF_KERNEL_CACHE, else $XDG_CACHE_HOME/rawflipflop/kernels, else
/// ~/.cache/rawflipflop/kernels (the temporary directory when there is no home). Entries are named by a SHA-256 of
/// everything that determines them, carry a hash of their content (<see cref="CacheEntry"/>) that is checked on
/// every read, and are written atomically (a temporary file renamed into place), so concurrent processes can
/// share the cache.
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
        RemoveStaleLeftovers(dir);
        return dir;
    }

    /// <summary>How old a temporary file or build directory must be before it counts as left by a crashed process.</summary>
    static readonly TimeSpan StaleAfter = TimeSpan.FromHours(6);

    /// <summary>
    /// Removes temporary files (".NAME.PID.ID.tmp") and build directories (".build-PID-ID") that crashed processes left
    /// behind. Only old ones: a compilation in progress in another process is minutes old at most.
    /// </summary>
    public static void RemoveStaleLeftovers(string dir)
    {
        var cutoff = DateTime.UtcNow - StaleAfter;
        try
        {
            foreach (var entry in new DirectoryInfo(dir).EnumerateFileSystemInfos(".*"))
            {
                if (entry.LastWriteTimeUtc > cutoff) continue;
                if (entry is FileInfo file && file.Name.EndsWith(".tmp", StringComparison.Ordinal)) file.Delete();
                else if (entry is DirectoryInfo build && build.Name.StartsWith(".build-", StringComparison.Ordinal)) build.Delete(recursive: true);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { } // another process removed it first, or it is not ours to remove
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

    /// <summary>
    /// Stores <paramref name="payload"/> as the entry <paramref name="path"/> (<see cref="CacheEntry"/>: payload and
    /// hash in one file), written beside it and renamed into place: readers see the old entry or the whole new one.
    /// </summary>
    public static void Write(string path, ReadOnlySpan<byte> payload)
    {
        string temp = TempPathFor(path);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                stream.Write(CacheEntry.Seal(Path.GetFileName(path), payload));
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

    /// <summary><see cref="Write"/>, or a note on stderr when the cache cannot be written (the caller goes on uncached).</summary>
    public static bool TryWrite(string path, ReadOnlySpan<byte> payload)
    {
        try
        {
            Write(path, payload);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Note(path, $"not stored ({e.Message}); set {EnvironmentVariable} to a writable directory to keep compiled kernels");
            return false;
        }
    }

    /// <summary>The payload of the entry <paramref name="path"/>; null when there is none or it was discarded (see <see cref="OpenVerified"/>).</summary>
    public static byte[]? Read(string path)
    {
        using var stream = OpenVerified(path, out byte[] payload);
        return stream == null ? null : payload;
    }

    /// <summary>
    /// Opens the entry <paramref name="path"/> and verifies the bytes read through the returned stream, which stays
    /// open so that what is loaded later through it (an emulator library) is exactly what was verified. Returns null
    /// when there is no entry; an entry that is empty, truncated, damaged, without a hash, or another entry's is
    /// deleted with a note on stderr and also gives null, so the caller rebuilds it.
    /// </summary>
    public static FileStream? OpenVerified(string path, out byte[] payload)
    {
        payload = [];
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Note(path, $"unreadable ({e.Message}); rebuilding");
            return null;
        }
        try
        {
            if (stream.Length > int.MaxValue) throw new IOException($"{stream.Length} bytes is too large for a kernel cache entry");
            var entry = new byte[stream.Length];
            stream.ReadExactly(entry);
            if (CacheEntry.Problem(Path.GetFileName(path), entry) is { } problem)
            {
                stream.Dispose();
                Discard(path, problem);
                return null;
            }
            payload = CacheEntry.Payload(entry).ToArray();
            return stream;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stream.Dispose();
            Discard(path, $"unreadable ({e.Message})");
            return null;
        }
    }

    /// <summary>Deletes a bad entry and says so on stderr (the caller then rebuilds it).</summary>
    public static void Discard(string path, string reason)
    {
        TryDelete(path);
        Note(path, $"{reason}; discarded, rebuilding");
    }

    static void Note(string path, string message) => Console.Error.WriteLine($"rawflipflop: kernel cache entry {path}: {message}");

    internal static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
