using System.Buffers.Binary;
using System.Text;
using RawFlipFlop.Engine.Checkpoints;

namespace RawFlipFlop.Tests.Engine.Checkpoints;

/// <summary>Hostile safetensors files: each is a <see cref="SafeTensorsException"/> naming the file and what is wrong.</summary>
[Trait("Category", "Cpu")]
public class SafeTensorsHostileTests
{
    /// <summary>A file of an 8-byte header size, the header bytes and the data bytes.</summary>
    static byte[] File_(byte[] header, int dataBytes, ulong? headerSize = null)
    {
        var bytes = new byte[8 + header.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, headerSize ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }

    static byte[] File_(string header, int dataBytes, ulong? headerSize = null) => File_(Encoding.UTF8.GetBytes(header), dataBytes, headerSize);

    const string A8 = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";

    public static TheoryData<string, string> Cases() => new()
    {
        { "too short", "too few for a safetensors header size" },
        { "header null", "the header is null, not a JSON object" },
        { "header an array", "the header is an array, not a JSON object" },
        { "header a number", "the header is the number 5, not a JSON object" },
        { "header empty", "not valid JSON" },
        { "header size too big", "header size 200000000 is more than safetensors allows (100000000 bytes)" },
        { "header size beyond the file", "header size 1000 runs past the end of the file" },
        { "header size 2^64-1", "header size 18446744073709551615 is more than safetensors allows" },
        { "header not UTF-8", "the header is not valid UTF-8 (byte 0xFF at offset 6)" },
        { "header a lone surrogate", "the header is not valid JSON" },
        { "header with data after it", "not valid JSON" },
        { "duplicate tensor names", "the header has the key \"a\" twice" },
        { "duplicate metadata keys", "__metadata__ has the key \"k\" twice" },
        { "metadata a string", "__metadata__ is the string \"x\", not an object of strings" },
        { "metadata null", "__metadata__ is null, not an object of strings" },
        { "metadata value a number", "__metadata__ value of \"k\" is the number 1, not a string" },
        { "tensor entry a number", "tensor \"a\" is the number 5, not an object" },
        { "tensor without dtype", "tensor \"a\" lacks \"dtype\"" },
        { "tensor with an unknown field", "tensor \"a\" has an unknown field \"extra\"" },
        { "tensor with dtype twice", "tensor \"a\" has \"dtype\" twice" },
        { "dtype unsupported", "tensor \"a\" has dtype \"BF16\", which is not supported (F32, F64, I32 or I64)" },
        { "dtype a number", "tensor \"a\" dtype is the number 5, not a string" },
        { "shape negative", "tensor \"a\" shape holds the number -1, not a non-negative integer" },
        { "shape not an integer", "tensor \"a\" shape holds the number 1.5, not a non-negative integer" },
        { "shape a string", "tensor \"a\" shape is the string \"2\", not an array of integers" },
        { "shape dimension too large", "has a dimension of 4294967296" },
        { "element count overflows", "has more elements than a 64-bit count holds" },
        { "offsets not a pair", "tensor \"a\" data_offsets has 1 numbers, not 2 (begin, end)" },
        { "offsets reversed", "tensor \"a\" data_offsets [8, 0] end before they begin" },
        { "offsets of the wrong size", "tensor \"a\" data_offsets [0, 8] hold 8 bytes, its shape [3] of F32 needs 12" },
        { "offsets with a gap", "4 bytes before tensor \"b\" (data_offsets [12, 20]) belong to no tensor" },
        { "offsets overlapping", "tensor \"b\" (data_offsets [4, 12]) overlaps tensor \"a\" (data_offsets [0, 8])" },
        { "offsets not from 0", "4 bytes before tensor \"a\" (data_offsets [4, 12]) belong to no tensor" },
        { "offsets beyond the data", "tensor \"a\" (data_offsets [0, 8]) runs past the data section, which has 4 bytes (truncated file?)" },
        { "trailing bytes", "4 bytes after the last tensor's data belong to no tensor" },
        { "name with a terminal escape", "tensor \"\\u001B[2J\" lacks \"dtype\"" },
    };

    static byte[] Build(string name) => name switch
    {
        "too short" => [1, 2, 3],
        "header null" => File_("null", 0),
        "header an array" => File_("[1,2]", 0),
        "header a number" => File_("5", 0),
        "header empty" => File_("", 0),
        "header size too big" => File_("{}", 0, 200_000_000),
        "header size beyond the file" => File_("{}", 0, 1000),
        "header size 2^64-1" => File_("{}", 0, ulong.MaxValue),
        "header not UTF-8" => File_([.. "{\"a\":\""u8, 0xFF, .. "\"}"u8], 0),
        "header a lone surrogate" => File_("{\"\\ud800\":{}}", 0),
        "header with data after it" => File_("{} {}", 0),
        "duplicate tensor names" => File_($"{{{A8},{A8}}}", 8),
        "duplicate metadata keys" => File_("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0),
        "metadata a string" => File_("{\"__metadata__\":\"x\"}", 0),
        "metadata null" => File_("{\"__metadata__\":null}", 0),
        "metadata value a number" => File_("{\"__metadata__\":{\"k\":1}}", 0),
        "tensor entry a number" => File_("{\"a\":5}", 0),
        "tensor without dtype" => File_("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
        "tensor with an unknown field" => File_("{\"a\":{\"dtype\":\"F32\",\"extra\":1}}", 8),
        "tensor with dtype twice" => File_("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F64\"}}", 8),
        "dtype unsupported" => File_("{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4),
        "dtype a number" => File_("{\"a\":{\"dtype\":5}}", 0),
        "shape negative" => File_("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,8]}}", 8),
        "shape not an integer" => File_("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", 8),
        "shape a string" => File_("{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8),
        "shape dimension too large" => File_("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296],\"data_offsets\":[0,8]}}", 8),
        "element count overflows" => File_("{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,8]}}", 8),
        "offsets not a pair" => File_("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8),
        "offsets reversed" => File_("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8),
        "offsets of the wrong size" => File_("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8),
        "offsets with a gap" => File_($"{{{A8},\"b\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}}}", 20),
        "offsets overlapping" => File_($"{{{A8},\"b\":{{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}}}", 12),
        "offsets not from 0" => File_("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
        "offsets beyond the data" => File_($"{{{A8}}}", 4),
        "trailing bytes" => File_($"{{{A8}}}", 12),
        "name with a terminal escape" => File_("{\"\\u001b[2J\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
        _ => throw new ArgumentException(name),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_hostile_file_names_the_file_and_what_is_wrong(string name, string expected)
    {
        using var dir = new TempDir();
        string path = dir.File("bad.safetensors");
        File.WriteAllBytes(path, Build(name));
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Read(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\u001b', e.Message);
    }

    [Fact]
    public void A_valid_file_may_list_its_tensors_in_any_order_and_hold_empty_ones()
    {
        using var dir = new TempDir();
        string path = dir.File("ok.safetensors");
        File.WriteAllBytes(path, File_(
            "{\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]},\"__metadata__\":{\"k\":\"v\"}," +
            "\"e\":{\"dtype\":\"F64\",\"shape\":[0,3],\"data_offsets\":[8,8]}," + A8 + "}   ", 12));
        var contents = SafeTensors.Read(path);
        Assert.Equal(["a", "e", "b"], contents.Tensors.Select(t => t.Name));
        Assert.Equal("v", contents.Metadata["k"]);
        Assert.Equal(0, contents.Find("e")!.Count);
    }

    [Fact]
    public void A_missing_or_unreadable_file_names_the_file()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Read(dir.File("none.safetensors")));
        Assert.StartsWith(dir.File("none.safetensors") + ": ", e.Message);
        var d = Assert.Throws<SafeTensorsException>(() => SafeTensors.Read(dir.Path));
        Assert.StartsWith(dir.Path + ": ", d.Message);
    }

    [Fact]
    public void Writing_refuses_duplicate_or_reserved_tensor_names()
    {
        using var dir = new TempDir();
        var t = SafeTensor.FromFloats("x", [1], [1f]);
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(dir.File("d.safetensors"), [t, t]));
        Assert.Throws<ArgumentException>(() => SafeTensors.Write(dir.File("m.safetensors"), [t with { Name = "__metadata__" }]));
        Assert.False(File.Exists(dir.File("d.safetensors")));
    }
}
