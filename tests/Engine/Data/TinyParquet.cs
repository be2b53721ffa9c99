using System.Buffers.Binary;
using System.Text;

namespace RawFlipFlop.Tests.Engine.Data;

/// <summary>Writes the Thrift compact protocol, so that tests can build Parquet headers and footers byte by byte.</summary>
public sealed class ThriftWriter
{
    readonly MemoryStream _bytes = new();
    readonly Stack<short> _last = new();
    short _lastId;

    public byte[] ToArray() => _bytes.ToArray();

    public ThriftWriter Raw(params byte[] bytes) { _bytes.Write(bytes); return this; }

    void Varint(ulong v)
    {
        while (v >= 0x80) { _bytes.WriteByte((byte)(v | 0x80)); v >>= 7; }
        _bytes.WriteByte((byte)v);
    }

    void Zigzag(long v) => Varint((ulong)((v << 1) ^ (v >> 63)));

    ThriftWriter Field(short id, byte type)
    {
        int delta = id - _lastId;
        if (delta is > 0 and <= 15) _bytes.WriteByte((byte)(delta << 4 | type));
        else { _bytes.WriteByte(type); Zigzag(id); }
        _lastId = id;
        return this;
    }

    public ThriftWriter I32(short id, long v) { Field(id, 5); Zigzag(v); return this; }
    public ThriftWriter I64(short id, long v) { Field(id, 6); Zigzag(v); return this; }
    public ThriftWriter Bool(short id, bool v) => Field(id, v ? (byte)1 : (byte)2);
    public ThriftWriter Binary(short id, byte[] v) { Field(id, 8); Varint((ulong)v.Length); _bytes.Write(v); return this; }
    public ThriftWriter String(short id, string v) => Binary(id, Encoding.UTF8.GetBytes(v));

    public ThriftWriter Struct(short id, Action<ThriftWriter> body)
    {
        Field(id, 12);
        _last.Push(_lastId);
        _lastId = 0;
        body(this);
        _bytes.WriteByte(0);
        _lastId = _last.Pop();
        return this;
    }

    /// <summary>A list of structs (or, with elementType 8, of strings written by <paramref name="element"/> through <see cref="RawString"/>).</summary>
    public ThriftWriter List(short id, byte elementType, long count, Action<ThriftWriter, int> element)
    {
        Field(id, 9);
        if (count < 15) _bytes.WriteByte((byte)(count << 4 | elementType));
        else { _bytes.WriteByte((byte)(0xF0 | elementType)); Varint((ulong)count); }
        for (int i = 0; i < count && i < 1_000_000; i++)
        {
            if (elementType == 12)
            {
                _last.Push(_lastId);
                _lastId = 0;
                element(this, i);
                _bytes.WriteByte(0);
                _lastId = _last.Pop();
            }
            else element(this, i);
        }
        return this;
    }

    public ThriftWriter RawString(string v) { var b = Encoding.UTF8.GetBytes(v); Varint((ulong)b.Length); _bytes.Write(b); return this; }

    public ThriftWriter Stop() { _bytes.WriteByte(0); return this; }
}

/// <summary>
/// Builds a small Parquet file of one column and one row group from explicit pages, so that each test can break
/// exactly one thing. Pages are (header, body) pairs; the defaults make a valid file.
/// </summary>
public sealed record TinyParquet
{
    public string Column { get; init; } = "text";
    public int PhysicalType { get; init; } = 6; // BYTE_ARRAY
    public int Repetition { get; init; } // REQUIRED
    public int Codec { get; init; } // UNCOMPRESSED
    public long? Rows { get; init; }
    public long? ValueCount { get; init; }
    public long? DataPageOffset { get; init; }
    public string? ExternalPath { get; init; }
    public uint? FooterLength { get; init; }
    /// <summary>Row groups in the footer, each pointing at the same pages (which a reader must not read twice).</summary>
    public int RowGroupCount { get; init; } = 1;
    public IReadOnlyList<byte[]> Pages { get; init; } = [DataPage(Plain("w0r0", "w1r1"), 2)];

    public static byte[] Plain(params string[] values)
    {
        var body = new MemoryStream();
        var length = new byte[4];
        foreach (var v in values)
        {
            var b = Encoding.UTF8.GetBytes(v);
            BinaryPrimitives.WriteInt32LittleEndian(length, b.Length);
            body.Write(length);
            body.Write(b);
        }
        return body.ToArray();
    }

    /// <summary>A page: its header (with any sizes and counts the test wants) followed by its body.</summary>
    public static byte[] Page(int type, long uncompressed, long compressed, long values, int encoding, byte[] body, int headerField = 5)
    {
        var header = new ThriftWriter()
            .I32(1, type).I32(2, uncompressed).I32(3, compressed)
            .Struct((short)headerField, h => h.I32(1, values).I32(2, encoding))
            .Stop().ToArray();
        return [.. header, .. body];
    }

    /// <summary>A version 2 data page: uncompressed definition levels, then the values (compressed or not).</summary>
    public static byte[] DataPageV2(byte[] levels, byte[] values, int count, int nulls, int uncompressedValues, bool compressed)
    {
        var header = new ThriftWriter()
            .I32(1, 3).I32(2, levels.Length + uncompressedValues).I32(3, levels.Length + values.Length)
            .Struct(8, h => h.I32(1, count).I32(2, nulls).I32(3, count).I32(4, 0).I32(5, levels.Length).I32(6, 0).Bool(7, compressed))
            .Stop().ToArray();
        return [.. header, .. levels, .. values];
    }

    public static byte[] DataPage(byte[] body, long values, int encoding = 0) => Page(0, body.Length, body.Length, values, encoding, body);

    public static byte[] DictionaryPage(byte[] body, long values) => Page(2, body.Length, body.Length, values, 0, body, headerField: 7);

    public byte[] Build()
    {
        var file = new MemoryStream();
        file.Write("PAR1"u8);
        long firstPage = file.Length;
        foreach (var page in Pages) file.Write(page);
        long rows = Rows ?? 2;
        var footer = new ThriftWriter()
            .I32(1, 1)
            .List(2, 12, 2, (w, i) =>
            {
                if (i == 0) w.String(4, "schema").I32(5, 1);
                else w.I32(1, PhysicalType).I32(3, Repetition).String(4, Column);
            })
            .I64(3, rows)
            .List(4, 12, RowGroupCount, (w, _) => w
                .List(1, 12, 1, (c, _) =>
                {
                    if (ExternalPath != null) c.String(1, ExternalPath);
                    c.I64(2, firstPage).Struct(3, m => m
                        .I32(1, PhysicalType)
                        .List(3, 8, 1, (p, _) => p.RawString(Column))
                        .I32(4, Codec).I64(5, ValueCount ?? rows).I64(6, file.Length - firstPage).I64(7, file.Length - firstPage)
                        .I64(9, DataPageOffset ?? firstPage));
                })
                .I64(2, file.Length - firstPage).I64(3, rows))
            .Stop().ToArray();
        file.Write(footer);
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(length, FooterLength ?? (uint)footer.Length);
        file.Write(length);
        file.Write("PAR1"u8);
        return file.ToArray();
    }
}
