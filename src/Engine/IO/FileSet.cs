using System.Runtime.InteropServices;

namespace RawFlipFlop.Engine.IO;

/// <summary>
/// Publishes a set of files into a directory all at once, so that a reader (or a kill at any moment) sees either the
/// previous complete set or the new one, never a mix. The files of each set live in a generation directory
/// <c>DIR/.rff/gen-ID/</c>; <c>DIR/.rff/current</c> is a symbolic link to the live generation, and each published
/// name <c>DIR/NAME</c> is a symbolic link to <c>.rff/current/NAME</c>. Replacing <c>current</c> is one rename,
/// which switches every name together. Only the names the caller manages are touched; other files in DIR stay.
/// </summary>
public static partial class FileSet
{
    public const string MetaDirectory = ".rff";
    const string CurrentLink = "current", GenerationPrefix = "gen-", TempSuffix = ".tmp";

    /// <summary>
    /// Writes <paramref name="files"/> (name and a writer that creates the file at the given path) as the new set of
    /// <paramref name="dir"/>. Names of the previous set, and names in <paramref name="managed"/>, that the new set
    /// lacks disappear with the switch. The caller holds the directory's lock (<see cref="DirectoryLock"/>).
    /// </summary>
    public static void Publish(string dir, IReadOnlyList<(string Name, Action<string> Write)> files, IReadOnlyCollection<string>? managed = null)
    {
        string meta = Path.Combine(dir, MetaDirectory);
        Directory.CreateDirectory(meta);
        foreach (var (name, _) in files)
            if (name.Length == 0 || name != Path.GetFileName(name) || name.StartsWith('.'))
                throw new ArgumentException($"{name}: a published file needs a plain name");
        managed = (managed ?? []).Union(Directory.EnumerateFileSystemEntries(dir).Where(IsLinkIntoCurrent).Select(Path.GetFileName).OfType<string>())
            .Distinct(StringComparer.Ordinal).ToList();
        AdoptPlainFiles(dir, managed);

        string generation = GenerationPrefix + Guid.NewGuid().ToString("N");
        string generationPath = Path.Combine(meta, generation);
        Directory.CreateDirectory(generationPath);
        foreach (var (name, write) in files) write(Path.Combine(generationPath, name));

        // Every name links through `current`: a name new in this set dangles (reads as absent) until the switch.
        foreach (var (name, _) in files) EnsureLink(dir, name);
        ReplaceLink(Path.Combine(meta, CurrentLink), generation);

        var published = files.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in managed.Where(n => !published.Contains(n)))
        {
            string path = Path.Combine(dir, name);
            if (IsLinkIntoCurrent(path)) File.Delete(path);
        }
        RemoveLeftovers(dir);
    }

    /// <summary>Claims <paramref name="dir"/> (created if needed), removes leftovers and publishes <paramref name="files"/> as its new set.</summary>
    public static void PublishExclusive(string dir, IReadOnlyList<(string Name, Action<string> Write)> files)
    {
        Directory.CreateDirectory(dir);
        using var claim = DirectoryLock.TryAcquire(dir, out string holder)
                          ?? throw new IOException($"{dir}: {holder} is writing into this directory; wait for it or choose another");
        RemoveLeftovers(dir);
        Publish(dir, files);
    }

    /// <summary>
    /// Removes what an interrupted publication or atomic write left behind: generations other than the live one and
    /// temporary links in DIR/.rff, and temporary files (".NAME.*.tmp") in DIR. The caller holds the directory's lock.
    /// </summary>
    public static void RemoveLeftovers(string dir)
    {
        if (!Directory.Exists(dir)) return;
        foreach (var temp in Directory.EnumerateFiles(dir, ".*" + TempSuffix)) TryDelete(temp);
        string meta = Path.Combine(dir, MetaDirectory);
        if (!Directory.Exists(meta)) return;
        string? live = new FileInfo(Path.Combine(meta, CurrentLink)).LinkTarget;
        foreach (var entry in Directory.EnumerateFileSystemEntries(meta))
        {
            string name = Path.GetFileName(entry);
            if (name.StartsWith(GenerationPrefix, StringComparison.Ordinal) && name != live) Directory.Delete(entry, recursive: true);
            else if (name.EndsWith(TempSuffix, StringComparison.Ordinal)) TryDelete(entry);
        }
    }

    /// <summary>
    /// Files of the managed names that are plain files (written before the directory used generations, or copied in)
    /// become a generation first, without changing what any name reads at any moment: hard links of the visible files
    /// go into a new generation, `current` points at it, and each plain file is replaced by its link (one rename each).
    /// </summary>
    static void AdoptPlainFiles(string dir, IReadOnlyCollection<string> managed)
    {
        var plain = managed.Where(n => File.Exists(Path.Combine(dir, n)) && new FileInfo(Path.Combine(dir, n)).LinkTarget == null).ToList();
        if (plain.Count == 0) return;
        string meta = Path.Combine(dir, MetaDirectory);
        string generation = GenerationPrefix + Guid.NewGuid().ToString("N");
        string generationPath = Path.Combine(meta, generation);
        Directory.CreateDirectory(generationPath);
        foreach (var name in managed)
        {
            string visible = Path.Combine(dir, name);
            if (File.Exists(visible)) HardLinkOrCopy(Path.GetFullPath(new FileInfo(visible).ResolveLinkTarget(true)?.FullName ?? visible), Path.Combine(generationPath, name));
        }
        foreach (var name in managed.Where(n => !plain.Contains(n) && File.Exists(Path.Combine(dir, n)))) EnsureLink(dir, name);
        ReplaceLink(Path.Combine(meta, CurrentLink), generation);
        foreach (var name in plain) ReplaceLink(Path.Combine(dir, name), Path.Combine(MetaDirectory, CurrentLink, name));
    }

    static void EnsureLink(string dir, string name)
    {
        string path = Path.Combine(dir, name);
        string target = Path.Combine(MetaDirectory, CurrentLink, name);
        var info = new FileInfo(path);
        if (info.LinkTarget == target) return;
        if (info.Exists && info.LinkTarget == null)
            throw new IOException($"{path}: a plain file where the published link belongs");
        ReplaceLink(path, target);
    }

    static bool IsLinkIntoCurrent(string path) =>
        new FileInfo(path).LinkTarget is { } target && target.StartsWith(Path.Combine(MetaDirectory, CurrentLink) + "/", StringComparison.Ordinal);

    /// <summary>Points the symbolic link at <paramref name="path"/> to <paramref name="target"/> with one rename (atomic).</summary>
    static void ReplaceLink(string path, string target)
    {
        string temp = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}{TempSuffix}");
        File.CreateSymbolicLink(temp, target);
        if (rename(temp, path) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            TryDelete(temp);
            throw new IOException($"{path}: cannot publish (rename failed, errno {errno})");
        }
    }

    static void HardLinkOrCopy(string source, string destination)
    {
        if (link(source, destination) != 0) File.Copy(source, destination);
    }

    static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    // rename(2) replaces a link in one step whatever the target type (File.Move would refuse a link that points to a
    // directory); link(2) shares a file's data without copying it.
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rename(string oldPath, string newPath);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string oldPath, string newPath);
}
