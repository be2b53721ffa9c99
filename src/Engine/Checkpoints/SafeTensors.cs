using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
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
/// Reading checks every offset, size and dtype and names the file and the tensor in its errors.
/// </summary>
public static class SafeTensors
{
    static int ElementSize(SafeTensorType type) => type is SafeTensorType.F64 or SafeTensorType.I64 ? 8 : 4;

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
        foreach (var t in list)
        {
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

    public static Contents Read(string path)
    {
        byte[] bytes;
        try { bytes = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new SafeTensorsException(path, e.Message); }
        if (bytes.Length < 8) throw new SafeTensorsException(path, $"file has {bytes.Length} bytes, too short for a safetensors header");
        ulong headerSize = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerSize > (ulong)bytes.Length - 8) throw new SafeTensorsException(path, $"header size {headerSize} exceeds the file ({bytes.Length} bytes)");
        JsonObject header;
        try { header = JsonNode.Parse(bytes.AsSpan(8, (int)headerSize))!.AsObject(); }
        catch (Exception e) when (e is JsonException or InvalidOperationException) { throw new SafeTensorsException(path, $"header is not a JSON object: {e.Message}"); }
        long dataStart = 8 + (long)headerSize, dataLength = bytes.Length - dataStart;
        var metadata = new Dictionary<string, string>();
        var tensors = new List<(long Begin, SafeTensor Tensor)>();
        foreach (var (name, node) in header)
        {
            if (name == "__metadata__")
            {
                foreach (var (k, v) in node?.AsObject() ?? [])
                    metadata[k] = v?.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : v?.ToJsonString() ?? "";
                continue;
            }
            try
            {
                var o = node!.AsObject();
                string dtype = o["dtype"]!.GetValue<string>();
                if (!Enum.TryParse<SafeTensorType>(dtype, out var type))
                    throw new SafeTensorsException(path, $"tensor {name}: dtype {dtype} is not supported (F32, F64, I32, I64)");
                int[] shape = o["shape"]!.AsArray().Select(s => s!.GetValue<int>()).ToArray();
                var offsets = o["data_offsets"]!.AsArray();
                long begin = offsets[0]!.GetValue<long>(), end = offsets[1]!.GetValue<long>();
                long count = shape.Aggregate(1L, (a, b) => a * b);
                if (begin < 0 || end < begin || end > dataLength)
                    throw new SafeTensorsException(path, $"tensor {name}: data_offsets [{begin}, {end}] outside the data ({dataLength} bytes)");
                if (end - begin != count * ElementSize(type))
                    throw new SafeTensorsException(path, $"tensor {name}: {end - begin} bytes do not match shape [{string.Join(",", shape)}] of {dtype}");
                tensors.Add((begin, new SafeTensor(name, type, shape, bytes.AsSpan((int)(dataStart + begin), (int)(end - begin)).ToArray())));
            }
            catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
            {
                throw new SafeTensorsException(path, $"tensor {name}: malformed header entry ({e.Message})");
            }
        }
        return new Contents(tensors.OrderBy(t => t.Begin).Select(t => t.Tensor).ToList(), metadata);
    }
}

/// <summary>A safetensors file that cannot be read or does not fit; the message names the file.</summary>
public sealed class SafeTensorsException(string path, string problem) : Exception($"{path}: {problem}")
{
    public string Path { get; } = path;
}
