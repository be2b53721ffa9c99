using System.Buffers;
using System.Text;
using System.Text.Json;
using RawFlipFlop.Engine.IO;

namespace RawFlipFlop.Engine.Checkpoints;

/// <summary>One tensor entry of a safetensors header: dtype, shape and where its bytes lie in the data section.</summary>
public sealed record SafeTensorEntry(string Name, SafeTensorType Type, int[] Shape, long Begin, long End)
{
    public long Bytes => End - Begin;
}

/// <summary>
/// The JSON header of a safetensors file, read as the format requires: valid UTF-8; a JSON object; no duplicate
/// keys; an optional "__metadata__" object of strings; every other key a tensor entry with exactly "dtype" (one
/// we support), "shape" (non-negative integers) and "data_offsets" ([begin, end], as many bytes as the shape and
/// dtype need). Every violation is a <see cref="SafeTensorsException"/> naming the file and what is wrong.
/// </summary>
public static class SafeTensorsHeader
{
    public const string MetadataKey = "__metadata__";

    public static (List<SafeTensorEntry> Tensors, Dictionary<string, string> Metadata) Parse(string path, ReadOnlySpan<byte> header)
    {
        if (FirstInvalidUtf8(header) is { } bad)
            throw new SafeTensorsException(path, $"the header is not valid UTF-8 (byte 0x{header[bad]:X2} at offset {bad})");
        var tensors = new List<SafeTensorEntry>();
        Dictionary<string, string>? metadata = null;
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var reader = new Utf8JsonReader(header, new JsonReaderOptions { MaxDepth = 8 });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                throw new SafeTensorsException(path, $"the header is {Describe(reader)}, not a JSON object");
            while (Next(ref reader) != JsonTokenType.EndObject)
            {
                string key = reader.GetString()!;
                if (!keys.Add(key)) throw new SafeTensorsException(path, $"the header has the key \"{Printable.Of(key)}\" twice");
                reader.Read();
                if (key == MetadataKey) metadata = Metadata(path, ref reader);
                else tensors.Add(Tensor(path, key, ref reader));
            }
            if (reader.Read()) throw new SafeTensorsException(path, "the header has data after its JSON object");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException)
        {
            // InvalidOperationException: a string whose escapes make invalid UTF-16 (a lone surrogate)
            throw new SafeTensorsException(path, $"the header is not valid JSON ({e.Message})");
        }
        return (tensors, metadata ?? []);
    }

    static JsonTokenType Next(ref Utf8JsonReader reader)
    {
        reader.Read();
        return reader.TokenType;
    }

    static Dictionary<string, string> Metadata(string path, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new SafeTensorsException(path, $"{MetadataKey} is {Describe(reader)}, not an object of strings");
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            string key = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.String)
                throw new SafeTensorsException(path, $"{MetadataKey} value of \"{Printable.Of(key)}\" is {Describe(reader)}, not a string");
            if (!metadata.TryAdd(key, reader.GetString()!))
                throw new SafeTensorsException(path, $"{MetadataKey} has the key \"{Printable.Of(key)}\" twice");
        }
        return metadata;
    }

    static SafeTensorEntry Tensor(string path, string name, ref Utf8JsonReader reader)
    {
        string what = $"tensor \"{Printable.Of(name)}\"";
        if (reader.TokenType != JsonTokenType.StartObject) throw new SafeTensorsException(path, $"{what} is {Describe(reader)}, not an object");
        SafeTensorType? type = null;
        int[]? shape = null;
        long[]? offsets = null;
        while (Next(ref reader) != JsonTokenType.EndObject)
        {
            string field = reader.GetString()!;
            reader.Read();
            bool repeated = field switch
            {
                "dtype" => type != null,
                "shape" => shape != null,
                "data_offsets" => offsets != null,
                _ => throw new SafeTensorsException(path, $"{what} has an unknown field \"{Printable.Of(field)}\" (dtype, shape and data_offsets expected)"),
            };
            if (repeated) throw new SafeTensorsException(path, $"{what} has \"{field}\" twice");
            switch (field)
            {
                case "dtype": type = DType(path, what, ref reader); break;
                case "shape": shape = Integers(path, $"{what} shape", ref reader).Select(d => Dimension(path, what, d)).ToArray(); break;
                default:
                    offsets = Integers(path, $"{what} data_offsets", ref reader).ToArray();
                    if (offsets.Length != 2) throw new SafeTensorsException(path, $"{what} data_offsets has {offsets.Length} numbers, not 2 (begin, end)");
                    break;
            }
        }
        if (type == null || shape == null || offsets == null)
            throw new SafeTensorsException(path, $"{what} lacks \"{(type == null ? "dtype" : shape == null ? "shape" : "data_offsets")}\"");
        var (begin, end) = (offsets[0], offsets[1]);
        if (end < begin) throw new SafeTensorsException(path, $"{what} data_offsets [{begin}, {end}] end before they begin");
        long bytes;
        try
        {
            bytes = checked(shape.Aggregate(1L, (a, d) => checked(a * d)) * SafeTensors.ElementSize(type.Value));
        }
        catch (OverflowException)
        {
            throw new SafeTensorsException(path, $"{what} shape [{string.Join(",", shape)}] has more elements than a 64-bit count holds");
        }
        if (end - begin != bytes)
            throw new SafeTensorsException(path, $"{what} data_offsets [{begin}, {end}] hold {end - begin} bytes, its shape [{string.Join(",", shape)}] of {type} needs {bytes}");
        return new SafeTensorEntry(name, type.Value, shape, begin, end);
    }

    static SafeTensorType DType(string path, string what, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.String) throw new SafeTensorsException(path, $"{what} dtype is {Describe(reader)}, not a string");
        string dtype = reader.GetString()!;
        return dtype switch
        {
            "F32" => SafeTensorType.F32,
            "F64" => SafeTensorType.F64,
            "I32" => SafeTensorType.I32,
            "I64" => SafeTensorType.I64,
            _ => throw new SafeTensorsException(path, $"{what} has dtype \"{Printable.Of(dtype)}\", which is not supported (F32, F64, I32 or I64)"),
        };
    }

    static List<long> Integers(string path, string what, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray) throw new SafeTensorsException(path, $"{what} is {Describe(reader)}, not an array of integers");
        var values = new List<long>();
        while (Next(ref reader) != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out long v) || v < 0)
                throw new SafeTensorsException(path, $"{what} holds {Describe(reader)}, not a non-negative integer");
            values.Add(v);
        }
        return values;
    }

    static int Dimension(string path, string what, long d) =>
        d <= int.MaxValue ? (int)d : throw new SafeTensorsException(path, $"{what} has a dimension of {d}, more than {int.MaxValue}");

    /// <summary>A token as a message shows it: its kind, and for a scalar its (shortened) text.</summary>
    static string Describe(Utf8JsonReader reader) => reader.TokenType switch
    {
        JsonTokenType.Null => "null",
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.True or JsonTokenType.False => $"the boolean {(reader.TokenType == JsonTokenType.True ? "true" : "false")}",
        JsonTokenType.String => $"the string \"{Printable.Of(reader.GetString()!, 40)}\"",
        JsonTokenType.Number => $"the number {Printable.Of(Encoding.UTF8.GetString(reader.ValueSpan), 40)}",
        JsonTokenType.None => "empty",
        _ => reader.TokenType.ToString(),
    };

    static int? FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        if (System.Text.Unicode.Utf8.IsValid(bytes)) return null;
        for (int i = 0; i < bytes.Length;)
        {
            if (System.Text.Rune.DecodeFromUtf8(bytes[i..], out _, out int consumed) != OperationStatus.Done) return i;
            i += consumed;
        }
        return null;
    }
}
