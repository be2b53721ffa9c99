namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>Value types of the Thrift compact protocol, as a field header's low nibble names them.</summary>
public enum ThriftType : byte
{
    Stop = 0, True = 1, False = 2, Byte = 3, I16 = 4, I32 = 5, I64 = 6, Double = 7, Binary = 8, List = 9, Set = 10, Map = 11,
    Struct = 12, Uuid = 13,
}

/// <summary>
/// Reads the Thrift compact protocol (the encoding of Parquet's footer and page headers) from a byte array,
/// never past its end: every length and element count is checked against the bytes left before anything is
/// allocated from it, varints are at most 10 bytes, and skipping nests at most <see cref="MaxDepth"/> deep.
/// Every failure is a <see cref="ParquetFormatException"/>.
/// </summary>
public sealed class ThriftCompactReader(byte[] bytes, int start, int end)
{
    public const int MaxDepth = 64;

    readonly Stack<short> _enclosingFieldIds = new();
    short _lastFieldId;
    int _position = start;

    public ThriftCompactReader(byte[] bytes) : this(bytes, 0, bytes.Length) { }

    public int Position => _position;
    public int Remaining => end - _position;

    byte NextByte()
    {
        if (_position >= end) throw new ThriftEndOfDataException("Thrift data ends in the middle of a value");
        return bytes[_position++];
    }

    ulong ReadVarint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 70; shift += 7)
        {
            byte b = NextByte();
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw new ParquetFormatException("Thrift varint longer than 10 bytes");
    }

    long ReadZigzag() { ulong v = ReadVarint(); return (long)(v >> 1) ^ -(long)(v & 1); }

    public void BeginStruct()
    {
        if (_enclosingFieldIds.Count >= MaxDepth) throw new ParquetFormatException($"Thrift structures nested more than {MaxDepth} deep");
        _enclosingFieldIds.Push(_lastFieldId);
        _lastFieldId = 0;
    }

    public void EndStruct() => _lastFieldId = _enclosingFieldIds.Pop();

    /// <summary>The next field of the current struct; false at its stop byte.</summary>
    public bool NextField(out short id, out ThriftType type)
    {
        byte header = NextByte();
        type = (ThriftType)(header & 0x0f);
        if (type == ThriftType.Stop) { id = 0; return false; }
        int delta = header >> 4;
        long fieldId = delta == 0 ? ReadZigzag() : _lastFieldId + delta;
        if (fieldId is < short.MinValue or > short.MaxValue) throw new ParquetFormatException($"Thrift field id {fieldId} out of range");
        id = _lastFieldId = (short)fieldId;
        return true;
    }

    static void Expect(ThriftType actual, ThriftType expected, string what)
    {
        if (actual != expected) throw new ParquetFormatException($"{what} is encoded as Thrift {actual}, expected {expected}");
    }

    public int ReadI32(ThriftType type, string what)
    {
        Expect(type, ThriftType.I32, what);
        long v = ReadZigzag();
        return v is >= int.MinValue and <= int.MaxValue ? (int)v : throw new ParquetFormatException($"{what} {v} does not fit 32 bits");
    }

    public long ReadI64(ThriftType type, string what)
    {
        Expect(type, ThriftType.I64, what);
        return ReadZigzag();
    }

    public bool ReadBool(ThriftType type, string what) =>
        type switch { ThriftType.True => true, ThriftType.False => false, _ => throw new ParquetFormatException($"{what} is encoded as Thrift {type}, expected a boolean") };

    /// <summary>A binary or string value: its bytes, which must all lie within the data.</summary>
    public ReadOnlySpan<byte> ReadBinary(ThriftType type, string what)
    {
        Expect(type, ThriftType.Binary, what);
        return ReadBytes(what);
    }

    ReadOnlySpan<byte> ReadBytes(string what)
    {
        ulong length = ReadVarint();
        if (length > (ulong)Remaining) throw new ThriftEndOfDataException($"{what} claims {length} bytes, only {Remaining} remain");
        var span = bytes.AsSpan(_position, (int)length);
        _position += (int)length;
        return span;
    }

    public string ReadString(ThriftType type, string what) => System.Text.Encoding.UTF8.GetString(ReadBinary(type, what));

    /// <summary>A list header: its element count, which cannot exceed the bytes left (every element takes one at least).</summary>
    public int ReadListHeader(ThriftType type, ThriftType expectedElement, string what)
    {
        Expect(type, ThriftType.List, what);
        int count = ReadCollectionHeader(out var element, what);
        if (count > 0 && element != expectedElement) throw new ParquetFormatException($"{what} holds Thrift {element}, expected {expectedElement}");
        return count;
    }

    int ReadCollectionHeader(out ThriftType element, string what)
    {
        byte header = NextByte();
        element = (ThriftType)(header & 0x0f);
        ulong count = (ulong)(header >> 4);
        if (count == 15) count = ReadVarint();
        if (count > (ulong)Remaining) throw new ThriftEndOfDataException($"{what} claims {count} elements, only {Remaining} bytes remain");
        return (int)count;
    }

    /// <summary>Skips a value of any type (a field we do not use).</summary>
    public void Skip(ThriftType type) => Skip(type, _enclosingFieldIds.Count);

    void Skip(ThriftType type, int depth)
    {
        if (depth > MaxDepth) throw new ParquetFormatException($"Thrift values nested more than {MaxDepth} deep");
        switch (type)
        {
            case ThriftType.True or ThriftType.False: break;
            case ThriftType.Byte: NextByte(); break;
            case ThriftType.I16 or ThriftType.I32 or ThriftType.I64: ReadVarint(); break;
            case ThriftType.Double: SkipBytes(8); break;
            case ThriftType.Uuid: SkipBytes(16); break;
            case ThriftType.Binary: ReadBytes("binary value"); break;
            case ThriftType.List or ThriftType.Set:
            {
                int count = ReadCollectionHeader(out var element, "list");
                for (int i = 0; i < count; i++) SkipElement(element, depth + 1);
                break;
            }
            case ThriftType.Map:
            {
                ulong count = ReadVarint();
                if (count == 0) break;
                if (count > (ulong)Remaining) throw new ThriftEndOfDataException($"map claims {count} entries, only {Remaining} bytes remain");
                byte kinds = NextByte();
                for (ulong i = 0; i < count; i++)
                {
                    SkipElement((ThriftType)(kinds >> 4), depth + 1);
                    SkipElement((ThriftType)(kinds & 0x0f), depth + 1);
                }
                break;
            }
            case ThriftType.Struct:
                BeginStruct();
                while (NextField(out _, out var fieldType)) Skip(fieldType, depth + 1);
                EndStruct();
                break;
            default: throw new ParquetFormatException($"unknown Thrift type {(int)type}");
        }
    }

    // Booleans inside lists and maps take a byte of their own, unlike boolean fields.
    void SkipElement(ThriftType type, int depth)
    {
        if (type is ThriftType.True or ThriftType.False) NextByte();
        else Skip(type, depth);
    }

    void SkipBytes(int count)
    {
        if (count > Remaining) throw new ThriftEndOfDataException("Thrift data ends in the middle of a value");
        _position += count;
    }
}
