using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// The bytes of one kernel cache entry: the payload, then a 48-byte trailer: "RFFHASH1", the payload's length
/// (8 bytes, little-endian) and the SHA-256 of the entry's name, a NUL and the payload. The trailer comes last so
/// that an emulator library stays a loadable shared library as it is (the loader reads only what the ELF headers
/// point at). Hashing the name as well means that another entry's file copied over this one is rejected like
/// damaged bytes. Payload and trailer are written as one file and published by one rename, so no crash can pair a
/// payload with a hash that was not computed from it.
/// </summary>
public static class CacheEntry
{
    public const int TrailerLength = 8 + 8 + 32;

    static ReadOnlySpan<byte> Magic => "RFFHASH1"u8;

    /// <summary>The entry for <paramref name="payload"/> stored under <paramref name="name"/> (its file name).</summary>
    public static byte[] Seal(string name, ReadOnlySpan<byte> payload)
    {
        var entry = new byte[payload.Length + TrailerLength];
        payload.CopyTo(entry);
        var trailer = entry.AsSpan(payload.Length);
        Magic.CopyTo(trailer);
        BinaryPrimitives.WriteInt64LittleEndian(trailer[8..], payload.Length);
        Hash(name, payload).CopyTo(trailer[16..]);
        return entry;
    }

    /// <summary>Why <paramref name="entry"/> is not a valid entry named <paramref name="name"/>, or null when it is.</summary>
    public static string? Problem(string name, ReadOnlySpan<byte> entry)
    {
        if (entry.Length == 0) return "empty file";
        if (entry.Length < TrailerLength || !entry[^TrailerLength..].StartsWith(Magic))
            return $"no content hash at its end ({entry.Length} bytes: truncated, damaged, or written by an older version)";
        var trailer = entry[^TrailerLength..];
        long declared = BinaryPrimitives.ReadInt64LittleEndian(trailer[8..]);
        long actual = entry.Length - TrailerLength;
        if (declared != actual) return $"length mismatch (the trailer says {declared} bytes of payload, the file has {actual})";
        if (!Hash(name, entry[..^TrailerLength]).AsSpan().SequenceEqual(trailer[16..]))
            return "content hash mismatch (damaged, or another entry's bytes)";
        return null;
    }

    /// <summary>The payload of an entry that <see cref="Problem"/> accepted.</summary>
    public static ReadOnlySpan<byte> Payload(ReadOnlySpan<byte> entry) => entry[..^TrailerLength];

    static byte[] Hash(string name, ReadOnlySpan<byte> payload)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(name));
        hash.AppendData([0]);
        hash.AppendData(payload);
        return hash.GetHashAndReset();
    }
}
