using System.Buffers.Binary;

namespace RawFlipFlop.Engine.Data.ParquetFormat;

/// <summary>
/// Parquet's RLE / bit-packed hybrid encoding (definition levels and dictionary indices): runs of one repeated
/// value and groups of 8 bit-packed values. Decodes exactly as many values as the caller's span holds, each
/// below <paramref name="limit"/>; running out of data first is an error.
/// </summary>
public static class RleBitPackedDecoder
{
    /// <summary>Fills <paramref name="output"/> from <paramref name="data"/>; returns the bytes consumed.</summary>
    public static int Decode(ReadOnlySpan<byte> data, int bitWidth, Span<int> output, int limit, string what)
    {
        if (bitWidth is < 0 or > 32) throw new ParquetFormatException($"{what}: bit width {bitWidth} is not in 0..32");
        int byteWidth = (bitWidth + 7) / 8, position = 0, filled = 0;
        while (filled < output.Length)
        {
            if (position >= data.Length)
                throw new ParquetFormatException($"{what}: data ends after {filled} of {output.Length} values");
            ulong header = ReadVarint(data, ref position, what);
            ulong count = header >> 1;
            if ((header & 1) == 0)
            {
                if (position + byteWidth > data.Length) throw new ParquetFormatException($"{what}: a run's value is cut off");
                uint value = 0;
                for (int b = 0; b < byteWidth; b++) value |= (uint)data[position + b] << (8 * b);
                position += byteWidth;
                int take = (int)Math.Min(count, (ulong)(output.Length - filled));
                Check(value, limit, what);
                output.Slice(filled, take).Fill((int)value);
                filled += take;
            }
            else
            {
                ulong values = count * 8;
                int take = (int)Math.Min(values, (ulong)(output.Length - filled));
                long bytes = (long)Math.Min(count, int.MaxValue) * bitWidth;
                long available = Math.Min(bytes, data.Length - position);
                if ((long)take * bitWidth > available * 8) throw new ParquetFormatException($"{what}: bit-packed values are cut off");
                var packed = data.Slice(position, (int)available);
                for (int i = 0; i < take; i++) output[filled + i] = (int)Check(Unpack(packed, i, bitWidth), limit, what);
                position += (int)available;
                filled += take;
            }
        }
        return position;
    }

    static uint Check(uint value, int limit, string what) =>
        value < (uint)limit ? value : throw new ParquetFormatException($"{what}: value {value} is out of range (below {limit} expected)");

    static uint Unpack(ReadOnlySpan<byte> packed, int index, int bitWidth)
    {
        if (bitWidth == 0) return 0;
        long bit = (long)index * bitWidth;
        int first = (int)(bit >> 3), shift = (int)(bit & 7);
        ulong word = 0;
        for (int b = 0; b < 5 && first + b < packed.Length; b++) word |= (ulong)packed[first + b] << (8 * b);
        return (uint)((word >> shift) & ((1UL << bitWidth) - 1));
    }

    static ulong ReadVarint(ReadOnlySpan<byte> data, ref int position, string what)
    {
        ulong value = 0;
        for (int shift = 0; shift < 35 && position < data.Length; shift += 7)
        {
            byte b = data[position++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return value;
        }
        throw new ParquetFormatException($"{what}: bad run header");
    }

    /// <summary>A 4-byte little-endian length, then that many bytes of RLE data (version 1 definition levels).</summary>
    public static int DecodeWithLength(ReadOnlySpan<byte> data, int bitWidth, Span<int> output, int limit, string what)
    {
        if (data.Length < 4) throw new ParquetFormatException($"{what}: no length prefix");
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (length > (uint)(data.Length - 4)) throw new ParquetFormatException($"{what}: length {length} exceeds the page ({data.Length - 4} bytes left)");
        Decode(data.Slice(4, (int)length), bitWidth, output, limit, what);
        return 4 + (int)length;
    }
}
