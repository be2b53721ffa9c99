using System.Security.Cryptography;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Engine.Data;

/// <summary>One file of a training or evaluation data set and the SHA-256 of its bytes.</summary>
public sealed record DataShard(string Path, string Sha256);

/// <summary>
/// The data training walks instead of sampling (`train --data FILE` or a registered split): its files in order (their
/// sequences concatenated), each with the SHA-256 of its bytes (the run's identity: a changed file is refused on
/// resume), and the sequences and their length.
/// </summary>
public sealed record TrainingDataFile(IReadOnlyList<DataShard> Files, long Sequences, int Length)
{
    /// <summary>Reads and validates the files (text or Parquet flip-flop strings, all of one length), concatenated.</summary>
    public static (TrainingDataFile File, FlipFlopDataset Data) Open(IReadOnlyList<string> paths)
    {
        if (paths.Count == 0) throw new ArgumentException("no data files");
        var data = Concatenate(paths.Select(p => (p, FlipFlopFiles.Read(p))).ToList());
        if (data.Count == 0) throw new InvalidDataException($"{string.Join(", ", paths)}: no sequences to train on");
        var shards = paths.Select(p => new DataShard(System.IO.Path.GetFullPath(p), Sha256Of(p))).ToList();
        return (new TrainingDataFile(shards, data.Count, data.Length), data);
    }

    public static (TrainingDataFile File, FlipFlopDataset Data) Open(string path) => Open([path]);

    /// <summary>The sequences of the files, after checking that every file still has the bytes it was set up with.</summary>
    public FlipFlopDataset Load()
    {
        foreach (var shard in Files)
        {
            if (!File.Exists(shard.Path)) throw new InvalidDataException($"{shard.Path}: no such file");
            string sha = Sha256Of(shard.Path);
            if (sha != shard.Sha256) throw new InvalidDataException($"{shard.Path} changed since it was recorded (sha256 {sha}, expected {shard.Sha256})");
        }
        return Concatenate(Files.Select(f => (f.Path, FlipFlopFiles.Read(f.Path))).ToList());
    }

    /// <summary>Datasets of one length, one after another.</summary>
    public static FlipFlopDataset Concatenate(IReadOnlyList<(string Path, FlipFlopDataset Data)> parts)
    {
        if (parts.Count == 1) return parts[0].Data;
        int length = parts[0].Data.Length;
        foreach (var (path, data) in parts)
            if (data.Length != length) throw new InvalidDataException($"{path}: sequences of length {data.Length}, {parts[0].Path} has {length}");
        long tokens = parts.Sum(p => (long)p.Data.Tokens.Length);
        if (tokens > Array.MaxLength) throw new InvalidDataException($"{tokens} tokens exceed one array ({Array.MaxLength})");
        var all = new byte[tokens];
        long at = 0;
        foreach (var (_, data) in parts) { data.Tokens.CopyTo(all, at); at += data.Tokens.Length; }
        return new FlipFlopDataset(all, parts.Sum(p => p.Data.Count), length);
    }

    public static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

/// <summary>
/// The seeded, restartable order in which training walks a data file: sample g of the run (batch k holds samples
/// (k-1)B .. kB-1) is sequence perm_e[g mod N] of epoch e = g div N, perm_e a Fisher-Yates shuffle of 0..N-1 driven
/// by Philox words of (data seed, epoch). Any step's batch follows from the step alone, so a resumed run reads the
/// same sequences as an uninterrupted one; every sequence is seen once per epoch.
/// </summary>
public sealed class DataFileOrder(long count, ulong seed)
{
    long _epoch = -1;
    int[] _permutation = [];

    public long Count => count;

    /// <summary>The sequence index of sample <paramref name="sample"/>.</summary>
    public int IndexOf(long sample)
    {
        long epoch = sample / count;
        if (epoch != _epoch)
        {
            _permutation = Permutation(count, seed, epoch);
            _epoch = epoch;
        }
        return _permutation[sample % count];
    }

    /// <summary>Fisher-Yates: for i = N-1 .. 1 swap i with j = floor(u_i (i + 1)), u_i from Philox word N-1-i (64-bit, no modulo bias to speak of).</summary>
    public static int[] Permutation(long count, ulong seed, long epoch)
    {
        var p = new int[count];
        for (int i = 0; i < count; i++) p[i] = i;
        for (long i = count - 1; i > 0; i--)
        {
            ulong k = (ulong)(count - 1 - i);
            ulong word = ((ulong)Philox.Word(seed, (ulong)epoch, RandomDomain.DataOrder, 2 * k) << 32) | Philox.Word(seed, (ulong)epoch, RandomDomain.DataOrder, 2 * k + 1);
            long j = (long)Math.BigMul(word, (ulong)(i + 1), out _);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
