using System.Diagnostics;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Engine.Data;

/// <summary>
/// Seeded random corruptions and truncations of valid Parquet files (ours, and two written by other tools):
/// each must end as a clean problem report naming the file, or as a valid read, quickly and without allocating
/// more than the reader's bounds allow.
/// </summary>
[Trait("Category", "Cpu")]
public class ParquetFuzzTests
{
    static async Task<byte[]> OursAsync(bool dictionary)
    {
        using var dir = new TempDir();
        var data = new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.8)).SampleMany(9, RandomDomain.Dataset, 0, 60, 16);
        var text = Enumerable.Range(0, data.Count).Select(data.SequenceText).ToArray();
        if (!dictionary)
        {
            RecordFiles.Write(dir.File("f.parquet"), ["text"], [text], rowGroupSize: 25);
            return File.ReadAllBytes(dir.File("f.parquet"));
        }
        // nullable, dictionary-encoded and gzip: the other paths of the reader
        var field = new Parquet.Schema.DataField<string>("text", nullable: true);
        var options = new Parquet.ParquetOptions { CompressionMethod = Parquet.CompressionMethod.Gzip };
        options.ColumnEncodingHints["text"] = Parquet.EncodingHint.Dictionary;
        await using (var stream = File.Create(dir.File("d.parquet")))
        await using (var writer = await Parquet.ParquetWriter.CreateAsync(new Parquet.Schema.ParquetSchema(field), stream, options,
                         cancellationToken: TestContext.Current.CancellationToken))
        {
            using var group = writer.CreateRowGroup();
            await group.WriteAsync(field, text.Concat(text).ToArray());
        }
        return File.ReadAllBytes(dir.File("d.parquet"));
    }

    static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = (byte[])original.Clone();
        int tail = Math.Min(bytes.Length, 600);
        switch (random.Next(6))
        {
            case 0: // a few bytes anywhere
                for (int n = random.Next(1, 5); n > 0; n--) bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
                return bytes;
            case 1: // a few bytes of the footer
                for (int n = random.Next(1, 5); n > 0; n--) bytes[bytes.Length - 1 - random.Next(tail)] = (byte)random.Next(256);
                return bytes;
            case 2: // a few bytes near the first page header
                for (int n = random.Next(1, 5); n > 0; n--) bytes[4 + random.Next(Math.Min(64, bytes.Length - 4))] = (byte)random.Next(256);
                return bytes;
            case 3: // a run of random bytes
            {
                int length = random.Next(1, 33), start = random.Next(bytes.Length - length);
                random.NextBytes(bytes.AsSpan(start, length));
                return bytes;
            }
            case 4: // truncated
                return bytes[..random.Next(bytes.Length)];
            default: // a byte inserted or removed: every offset after it is off by one
            {
                int at = random.Next(1, bytes.Length);
                return random.Next(2) == 0 ? [.. bytes[..at], (byte)random.Next(256), .. bytes[at..]] : [.. bytes[..(at - 1)], .. bytes[at..]];
            }
        }
    }

    [Theory(Timeout = 120_000)]
    [InlineData("ours", 3000)]
    [InlineData("ours, dictionary and gzip", 2000)]
    [InlineData("flipflop-arrow-rs.parquet", 400)]
    [InlineData("flipflop-hyparquet.parquet", 400)]
    public async Task Random_corruptions_end_as_problem_reports_or_valid_reads(string source, int cases)
    {
        var original = source.EndsWith(".parquet") ? File.ReadAllBytes(Fixtures.File(source)) : await OursAsync(dictionary: source != "ours");
        await Task.Run(() =>
        {
            var random = new Random(source.Length * 7919 + cases);
            long worstAllocation = 0;
            var clock = Stopwatch.StartNew();
            int valid = 0;
            for (int i = 0; i < cases; i++)
            {
                var bytes = Mutate(original, random);
                string name = $"fuzz-{i}.parquet";
                long before = GC.GetAllocatedBytesForCurrentThread();
                using (var input = DataInput.Open(new MemoryStream(bytes, writable: false), name))
                {
                    var result = FlipFlopFiles.Check(input);
                    Assert.True(result.IsValid || result.Problems.Total > 0);
                    Assert.All(result.Problems.Problems, p => Assert.Equal(name, p.Source));
                    if (result.IsValid) valid++;
                }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                worstAllocation = Math.Max(worstAllocation, allocated);
                // The reader's bounds: a page decompresses to at most 1032 times its size; the rest is a few copies of the file.
                Assert.True(allocated < 64L * 1024 * 1024 + 1100L * bytes.Length,
                    $"case {i} allocated {allocated} bytes for a file of {bytes.Length}");
            }
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"{cases} cases took {clock.Elapsed}");
            TestContext.Current.SendDiagnosticMessage($"{source}: {cases} cases, {valid} still valid, worst allocation {worstAllocation} bytes, {clock.Elapsed}");
        }, TestContext.Current.CancellationToken);
    }
}
