using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json.Nodes;
using RawFlipFlop.Engine.IO;

namespace RawFlipFlop.Engine.Checkpoints;

/// <summary>Element types of the safetensors format that the project reads and writes.</summary>
public enum SafeTensorType { F32, F64, I32, I64 }

/// <summary>One tensor of a safetensors file: name, type, shape and raw little-endian bytes.</summary>
public sealed record SafeTensor(string Name, SafeTensorType Type, int[] Shape, byte[] Data)
{
    public long Count => Shape.Aggregate(1L, (a, b) => a * b);

    public static SafeTensor FromFloats(string name, int[] shape, ReadOnlySpan<float> values) =>
        new(name, SafeTensorType.F32, shape, MemoryMarshal.AsBytes(values).ToArray());

    public static SafeTensor FromDoubles(string name, int[] shape, ReadOnlySpan<double> values) =>
        new(name, SafeTensorType.F64, shape, MemoryMarshal.AsBytes(values).ToArray());

    /// <summary>The values as double (F32 and F64 tensors).</summary>
    public double[] ToDoubles() => Type switch
    {
        SafeTensorType.F32 => MemoryMarshal.Cast<byte, float>(Data).ToArray().Select(v => (double)v).ToArray(),
        SafeTensorType.F64 => MemoryMarshal.Cast<byte, double>(Data).ToArray(),
        SafeTensorType.I32 => MemoryMarshal.Cast<byte, int>(Data).ToArray().Select(v => (double)v).ToArray(),
        _ => MemoryMarshal.Cast<byte, long>(Data).ToArray().Select(v => (double)v).ToArray(),
    };

    public string ShapeText => "[" + string.Join(",", Shape) + "]";
}

/// <summary>
/// The safetensors format (huggingface/safetensors): u64 little-endian header size, a JSON header
/// {"__metadata__": {string: string}, name: {"dtype", "shape", "data_offsets": [begin, end]}}, then the data.
/// Reading checks the header and the layout of the data as the format requires (see <see cref="Read"/>) and
/// names the file, and the tensor and field where there is one, in every error.
/// </summary>
public static class SafeTensors
{
    public static int ElementSize(SafeTensorType type) => type is SafeTensorType.F64 or SafeTensorType.I64 ? 8 : 4;

    public static void Write(string path, IEnumerable<SafeTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            var meta = new JsonObject();
            foreach (var (k, v) in metadata) meta[k] = v;
            header["__metadata__"] = meta;
        }
        long offset = 0;
        var names = new HashSet<string>(StringComparer.Ordinal) { SafeTensorsHeader.MetadataKey };
        foreach (var t in list)
        {
            if (!names.Add(t.Name)) throw new ArgumentException($"tensor name {t.Name} is used twice or is reserved");
            if (t.Data.Length != t.Count * ElementSize(t.Type))
                throw new ArgumentException($"tensor {t.Name}: {t.Data.Length} bytes do not match shape {t.ShapeText} of {t.Type}");
            header[t.Name] = new JsonObject
            {
                ["dtype"] = t.Type.ToString(),
                ["shape"] = new JsonArray(t.Shape.Select(s => (JsonNode)s).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + t.Data.Length),
            };
            offset += t.Data.Length;
        }
        var headerBytes = Encoding.UTF8.GetBytes(header.ToJsonString());
        int padded = (headerBytes.Length + 7) / 8 * 8;
        AtomicFile.Write(path, stream =>
        {
            Span<byte> size = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(size, (ulong)padded);
            stream.Write(size);
            stream.Write(headerBytes);
            for (int i = headerBytes.Length; i < padded; i++) stream.WriteByte((byte)' ');
            foreach (var t in list) stream.Write(t.Data);
        });
    }

    public sealed record Contents(IReadOnlyList<SafeTensor> Tensors, IReadOnlyDictionary<string, string> Metadata)
    {
        public SafeTensor? Find(string name) => Tensors.FirstOrDefault(t => t.Name == name);
    }

    /// <summary>The format's bound on the header (the reference implementation's limit).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>
    /// Reads and checks a file: the header within <see cref="MaxHeaderBytes"/> and the file, valid as
    /// <see cref="SafeTensorsHeader"/> says, and the tensors' data_offsets tiling the data section exactly (from 0,
    /// in order, no gap, no overlap, nothing after). Tensor data is allocated only once all of that holds, so
    /// never more than the file holds.
    /// </summary>
    public static Contents Read(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path);
            long length = RandomAccess.GetLength(handle);
            if (length < 8) throw new SafeTensorsException(path, $"the file has {length} bytes, too few for a safetensors header size");
            Span<byte> prefix = stackalloc byte[8];
            ReadExactly(path, handle, prefix, 0);
            ulong headerSize = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerSize > MaxHeaderBytes)
                throw new SafeTensorsException(path, $"header size {headerSize} is more than safetensors allows ({MaxHeaderBytes} bytes)");
            if (headerSize > (ulong)(length - 8))
                throw new SafeTensorsException(path, $"header size {headerSize} runs past the end of the file ({length} bytes)");
            var header = new byte[headerSize];
            ReadExactly(path, handle, header, 8);
            var (entries, metadata) = SafeTensorsHeader.Parse(path, header);
            long dataStart = 8 + (long)headerSize;
            CheckLayout(path, entries, length - dataStart);
            var tensors = new List<SafeTensor>(entries.Count);
            foreach (var e in entries)
            {
                var data = new byte[e.Bytes];
                ReadExactly(path, handle, data, dataStart + e.Begin);
                tensors.Add(new SafeTensor(e.Name, e.Type, e.Shape, data));
            }
            return new Contents(tensors, metadata);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SafeTensorsException(path, e.Message);
        }
    }

    /// <summary>Sorts the entries by offset and checks they cover the data section exactly once.</summary>
    static void CheckLayout(string path, List<SafeTensorEntry> entries, long dataLength)
    {
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long covered = 0;
        SafeTensorEntry? previous = null;
        foreach (var e in entries)
        {
            string what = $"tensor \"{Printable.Of(e.Name)}\" (data_offsets [{e.Begin}, {e.End}])";
            if (e.End > dataLength)
                throw new SafeTensorsException(path, $"{what} runs past the data section, which has {dataLength} bytes (truncated file?)");
            if (e.Begin > covered)
                throw new SafeTensorsException(path, $"{e.Begin - covered} bytes before {what} belong to no tensor");
            if (e.Begin < covered)
                throw new SafeTensorsException(path, $"{what} overlaps tensor \"{Printable.Of(previous!.Name)}\" (data_offsets [{previous.Begin}, {previous.End}])");
            covered = e.End;
            if (e.Bytes > 0) previous = e;
        }
        if (covered < dataLength)
            throw new SafeTensorsException(path, $"{dataLength - covered} bytes after the last tensor's data belong to no tensor");
    }

    static void ReadExactly(string path, Microsoft.Win32.SafeHandles.SafeFileHandle handle, Span<byte> destination, long offset)
    {
        while (!destination.IsEmpty)
        {
            int read = RandomAccess.Read(handle, destination, offset);
            if (read <= 0) throw new SafeTensorsException(path, $"the file ended at byte {offset} while being read (changed meanwhile?)");
            destination = destination[read..];
            offset += read;
        }
    }
}

/// <summary>A safetensors file that cannot be read or does not fit; the message names the file.</summary>
public sealed class SafeTensorsException(string path, string problem) : Exception($"{path}: {problem}")
{
    public string Path { get; } = path;
}
