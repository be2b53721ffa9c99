using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Caches;

/// <summary>Ways a kernel cache entry goes bad: a crash mid-write, a flipped bit, a stray copy.</summary>
public enum Damage
{
    Truncated,
    BitFlipped,
    ZeroLength,
    WrongHash,
    WithoutHash,
    OtherEntrysFile,
    OtherEntrysPayload,
}

public static class CacheDamage
{
    public static TheoryData<Damage> All => [.. Enum.GetValues<Damage>()];

    /// <summary>Damages the entry <paramref name="path"/>; <paramref name="otherEntry"/> is a valid entry of another key.</summary>
    public static void Apply(Damage damage, string path, string otherEntry)
    {
        byte[] bytes = File.ReadAllBytes(path);
        byte[] other = File.ReadAllBytes(otherEntry);
        int payload = bytes.Length - CacheEntry.TrailerLength;
        byte[] damaged = damage switch
        {
            Damage.Truncated => bytes[..(bytes.Length / 2)],
            Damage.BitFlipped => Flip(bytes, payload / 2),
            Damage.ZeroLength => [],
            Damage.WrongHash => Flip(bytes, bytes.Length - 1),
            Damage.WithoutHash => bytes[..payload],
            Damage.OtherEntrysFile => other,
            Damage.OtherEntrysPayload => [.. other[..^CacheEntry.TrailerLength], .. bytes[payload..]],
            _ => throw new ArgumentOutOfRangeException(nameof(damage)),
        };
        File.WriteAllBytes(path, damaged);
    }

    static byte[] Flip(byte[] bytes, int index)
    {
        var copy = (byte[])bytes.Clone();
        copy[index] ^= 0x10;
        return copy;
    }
}
