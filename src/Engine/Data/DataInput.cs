using RawFlipFlop.Engine.Data.ParquetFormat;

namespace RawFlipFlop.Engine.Data;

/// <summary>What a data file holds: flip-flop strings, or automaton (input, state) pairs.</summary>
public enum DataFileKind { FlipFlop, Automaton }

/// <summary>
/// One data input (a file, a pipe such as /dev/stdin, or a stream), opened once and read once: the format
/// (Parquet by the .parquet extension or its PAR1 magic, else text) and the kind are told from what has been
/// read, and the records come from the same stream, so pipes read as well as files. A Parquet file on disk is
/// read in place; Parquet from a pipe is buffered in memory (its footer comes last) up to
/// <see cref="ParquetLimits.MaxBufferedBytes"/>. A text input's first line is held to tell its kind
/// (automaton lines have a tab).
/// </summary>
public sealed class DataInput : IDisposable
{
    readonly Stream? _stream;
    readonly bool _ownsStream;
    readonly ReadOnlyMemory<byte> _prefix;
    readonly ParquetFile? _parquet;
    readonly string? _openProblem;
    bool _read;

    public string Path { get; }
    public DataFileFormat Format { get; }
    public DataFileKind Kind { get; }
    /// <summary>What record numbers count: "line" or "row".</summary>
    public string Unit => RecordFiles.UnitOf(Format);

    DataInput(string path, DataFileFormat format, DataFileKind kind, Stream? stream, bool ownsStream, ReadOnlyMemory<byte> prefix,
        ParquetFile? parquet, string? openProblem)
    {
        (Path, Format, Kind, _stream, _ownsStream, _prefix, _parquet, _openProblem) = (path, format, kind, stream, ownsStream, prefix, parquet, openProblem);
    }

    /// <summary>Opens a file; a missing one throws <see cref="FileNotFoundException"/>, any other failure is
    /// reported as a problem when the records are read.</summary>
    public static DataInput Open(string path)
    {
        var format = HasParquetExtension(path) ? DataFileFormat.Parquet : DataFileFormat.Text;
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new FileNotFoundException($"{path}: no such file", path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new DataInput(path, format, DataFileKind.FlipFlop, null, false, default, null, $"cannot be read: {e.Message}");
        }
        return Open(stream, path, ownsStream: true);
    }

    /// <summary>Reads from <paramref name="stream"/> (seekable or not), naming it <paramref name="name"/> in problems.
    /// Parquet that is not a file on disk is buffered in memory, up to <paramref name="maxBufferedParquetBytes"/>.</summary>
    public static DataInput Open(Stream stream, string name, bool ownsStream = false, long maxBufferedParquetBytes = ParquetLimits.MaxBufferedBytes)
    {
        byte[] prefix;
        try
        {
            prefix = ReadPrefix(stream, HasParquetExtension(name));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            if (ownsStream) stream.Dispose();
            return new DataInput(name, DataFileFormat.Text, DataFileKind.FlipFlop, null, false, default, null, $"reading failed: {e.Message}");
        }
        bool parquet = HasParquetExtension(name) || prefix.AsSpan().StartsWith("PAR1"u8);
        if (!parquet)
        {
            var firstLine = prefix.AsSpan();
            if (firstLine.IndexOf((byte)'\n') is var end and >= 0) firstLine = firstLine[..end];
            var kind = firstLine.IndexOf((byte)'\t') >= 0 ? DataFileKind.Automaton : DataFileKind.FlipFlop;
            return new DataInput(name, DataFileFormat.Text, kind, stream, ownsStream, prefix, null, null);
        }
        try
        {
            var file = ParquetFile.Open(SourceOf(stream, prefix, maxBufferedParquetBytes));
            var columns = file.Fields.Select(f => f.Name).ToHashSet();
            var kind = !columns.Contains(FlipFlopFiles.TextColumn) && columns.Contains("input") && columns.Contains("state")
                ? DataFileKind.Automaton : DataFileKind.FlipFlop;
            return new DataInput(name, DataFileFormat.Parquet, kind, stream, ownsStream, default, file, null);
        }
        catch (Exception e) when (ParquetRecords.IsReadFailure(e))
        {
            return new DataInput(name, DataFileFormat.Parquet, DataFileKind.FlipFlop, stream, ownsStream, default, null,
                $"not a readable Parquet file: {e.Message}");
        }
    }

    /// <summary>The records with the named fields; problems go to <paramref name="problems"/>. Once only: a pipe cannot be read twice.</summary>
    public IEnumerable<Record> Records(IReadOnlyList<string> fields, ProblemLog problems)
    {
        if (_read) throw new InvalidOperationException($"{Path} has been read already: a data input is read once");
        _read = true;
        if (_openProblem != null)
        {
            problems.Add(0, 0, _openProblem);
            return [];
        }
        return _parquet != null ? ParquetRecords.Read(_parquet, fields, problems) : TextRecords.Read(_stream!, _prefix, fields, problems);
    }

    public void Dispose()
    {
        if (_ownsStream) _stream?.Dispose();
    }

    static bool HasParquetExtension(string path) => System.IO.Path.GetExtension(path).Equals(".parquet", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The first bytes: Parquet's 4 magic bytes, or for text everything up to and including the first newline
    /// (or the end, or <see cref="TextRecords.MaxLineBytes"/>).
    /// </summary>
    static byte[] ReadPrefix(Stream stream, bool parquetByName)
    {
        var prefix = new MemoryStream();
        var buffer = new byte[1 << 16];
        while (prefix.Length < TextRecords.MaxLineBytes)
        {
            int want = prefix.Length < 4 ? 4 - (int)prefix.Length : (int)Math.Min(buffer.Length, TextRecords.MaxLineBytes - prefix.Length);
            int n = stream.Read(buffer, 0, want);
            if (n <= 0) break;
            prefix.Write(buffer, 0, n);
            if (prefix.Length < 4) continue;
            if (parquetByName || prefix.GetBuffer().AsSpan(0, 4).SequenceEqual("PAR1"u8)) break;
            if (buffer.AsSpan(0, n).IndexOf((byte)'\n') >= 0) break;
        }
        return prefix.ToArray();
    }

    /// <summary>Random access to a Parquet input: a file in place, or a pipe's whole content in memory.</summary>
    static IByteSource SourceOf(Stream stream, byte[] prefix, long maxBuffered)
    {
        if (stream is FileStream { CanSeek: true } file) return new FileByteSource(file.SafeFileHandle);
        if (prefix.Length > maxBuffered) throw new ParquetFormatException($"Parquet read from a pipe is held in memory, up to {maxBuffered} bytes");
        var all = new MemoryStream();
        all.Write(prefix);
        var buffer = new byte[1 << 16];
        int n;
        while ((n = stream.Read(buffer)) > 0)
        {
            if (all.Length + n > maxBuffered)
                throw new ParquetFormatException($"Parquet read from a pipe is held in memory, up to {maxBuffered} bytes; " +
                                                 "this one is longer: read it from a file");
            all.Write(buffer, 0, n);
        }
        return new MemoryByteSource(all.GetBuffer(), (int)all.Length);
    }
}
