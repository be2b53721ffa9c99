using System.Globalization;

namespace RawFlipFlop.Engine.IO;

/// <summary>
/// An exclusive claim on a directory between processes: an advisory lock (flock) on DIR/.rff/lock, released when the
/// holder disposes it or dies, even by SIGKILL. DIR/.rff/lock.pid names the holder's process for messages (the locked
/// file itself cannot be read by others).
/// </summary>
public sealed class DirectoryLock : IDisposable
{
    readonly FileStream _stream;

    DirectoryLock(FileStream stream) => _stream = stream;

    public static string LockPath(string dir) => Path.Combine(dir, FileSet.MetaDirectory, "lock");

    /// <summary>The lock of <paramref name="dir"/> (created if needed), or null with the holder's pid when another process has it.</summary>
    public static DirectoryLock? TryAcquire(string dir, out string holder)
    {
        holder = "";
        string path = LockPath(dir);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        FileStream stream;
        try
        {
            // FileShare.None is enforced on Linux with flock(LOCK_EX | LOCK_NB).
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (File.Exists(path))
        {
            try { holder = "process " + File.ReadAllText(path + ".pid").Trim(); } catch (IOException) { holder = "another process"; }
            return null;
        }
        File.WriteAllText(path + ".pid", Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        return new DirectoryLock(stream);
    }

    public void Dispose() => _stream.Dispose();
}
