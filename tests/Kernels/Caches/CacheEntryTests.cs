using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Caches;

/// <summary>The cache entry format and its checks, without compiling anything.</summary>
[Trait("Category", "Cpu")]
public class CacheEntryTests
{
    static readonly byte[] Payload = [.. Enumerable.Range(0, 1000).Select(i => (byte)(i * 7))];

    [Fact]
    public void A_sealed_entry_verifies_under_its_own_name_and_keeps_the_payload_first()
    {
        var entry = CacheEntry.Seal("a.so", Payload);
        Assert.Equal(Payload.Length + CacheEntry.TrailerLength, entry.Length);
        Assert.Equal(Payload, entry[..Payload.Length]);  // a shared library stays loadable as it is
        Assert.Null(CacheEntry.Problem("a.so", entry));
        Assert.Equal(Payload, CacheEntry.Payload(entry).ToArray());
        Assert.Null(CacheEntry.Problem("empty", CacheEntry.Seal("empty", [])));
    }

    [Fact]
    public void Every_damage_is_named()
    {
        var entry = CacheEntry.Seal("a.so", Payload);
        Assert.Contains("empty", CacheEntry.Problem("a.so", []));
        Assert.Contains("no content hash", CacheEntry.Problem("a.so", entry[..^1]));
        Assert.Contains("no content hash", CacheEntry.Problem("a.so", Payload));
        Assert.Contains("length mismatch", CacheEntry.Problem("a.so", [0, .. entry]));
        var flipped = (byte[])entry.Clone();
        flipped[10] ^= 1;
        Assert.Contains("hash mismatch", CacheEntry.Problem("a.so", flipped));
        Assert.Contains("hash mismatch", CacheEntry.Problem("b.so", entry));  // another entry's file
    }

    [Theory]
    [MemberData(nameof(CacheDamage.All), MemberType = typeof(CacheDamage))]
    public void A_damaged_entry_is_discarded_on_read(Damage damage)
    {
        using var dir = new TempDir();
        string path = dir.File("a.rff"), other = dir.File("b.rff");
        KernelCache.Write(path, Payload);
        KernelCache.Write(other, [.. Payload.Select(b => (byte)~b)]);
        Assert.Equal(Payload, KernelCache.Read(path));

        CacheDamage.Apply(damage, path, other);
        Assert.Null(KernelCache.Read(path));
        Assert.False(File.Exists(path));  // deleted, so the caller's rebuild replaces it
        Assert.Null(KernelCache.Read(path));
    }

    [Fact]
    public void Writes_leave_no_temporary_files_and_replace_the_entry_whole()
    {
        using var dir = new TempDir();
        string path = dir.File("a.rff");
        KernelCache.Write(path, Payload);
        KernelCache.Write(path, [1, 2, 3]);
        Assert.Equal([1, 2, 3], KernelCache.Read(path));
        Assert.Equal([path], Directory.GetFiles(dir.Path));
    }
}
