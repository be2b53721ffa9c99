using System.Security.Cryptography;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Engine.Data;

/// <summary>
/// A data file training walks instead of sampling (`train --data FILE`): its path, the SHA-256 of its bytes (the
/// run's identity: a changed file is refused on resume), and its sequences and their length.
/// </summary>
public sealed record TrainingDataFile(string Path, string Sha256, long Sequences, int Length)
{
    /// <summary>Reads and validates <paramref name="path"/> (text or Parquet flip-flop strings of one length).</summary>
    public static (TrainingDataFile File, FlipFlopDataset Data) Open(string path)
    {
        var data = FlipFlopFiles.Read(path);
        if (data.Count == 0) throw new InvalidDataException($"{path}: no sequences to train on");
        return (new TrainingDataFile(System.IO.Path.GetFullPath(path), Sha256Of(path), data.Count, data.Length), data);
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
