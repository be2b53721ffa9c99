using System.Buffers.Binary;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Data.ParquetFormat;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Engine.Data;

/// <summary>Hostile Parquet files, each breaking one thing: every one must end as a problem report naming the file.</summary>
[Trait("Category", "Cpu")]
public class ParquetHostileTests
{
    const int Uncompressed = 0, Snappy = 1, Lzo = 3;
    const int DataPage = 0, DictionaryPage = 2;
    const int Plain = 0, RleDictionary = 8, DeltaByteArray = 7;

    /// <summary>Checks <paramref name="bytes"/> as a file; asserts it is invalid and every problem names the file.</summary>
    static FlipFlopFiles.CheckResult CheckInvalid(byte[] bytes, string name = "hostile.parquet")
    {
        using var dir = new TempDir();
        string path = dir.File(name);
        File.WriteAllBytes(path, bytes);
        var result = FlipFlopFiles.Check(path);
        Assert.False(result.IsValid);
        Assert.Null(result.Dataset);
        Assert.NotEmpty(result.Problems.Problems);
        Assert.All(result.Problems.Problems, p => Assert.StartsWith(path + ": ", p.ToString()));
        return result;
    }

    static string ProblemOf(byte[] bytes) => Assert.Single(CheckInvalid(bytes).Problems.Problems).Reason;

    static byte[] ValidFile(int count = 40, int length = 32)
    {
        using var dir = new TempDir();
        var data = new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.8)).SampleMany(5, RandomDomain.Dataset, 0, count, length);
        var text = Enumerable.Range(0, data.Count).Select(data.SequenceText).ToArray();
        RecordFiles.Write(dir.File("v.parquet"), ["text"], [text], rowGroupSize: 16);
        return File.ReadAllBytes(dir.File("v.parquet"));
    }

    [Fact]
    public void The_tiny_builder_makes_a_valid_file()
    {
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("t.parquet"), new TinyParquet().Build());
        var result = FlipFlopFiles.Check(dir.File("t.parquet"));
        Assert.True(result.IsValid, string.Join("\n", result.Problems.Problems));
        Assert.Equal(2, result.Dataset!.Count);
    }

    public static TheoryData<string, string> Crafted() => new()
    {
        // footer and file structure
        { "footer length huge", "footer length 2147483647 does not fit the file" },
        { "footer length 2^32-1", "footer length 4294967295 does not fit the file" },
        { "footer length zero", "footer length 0 does not fit the file" },
        { "magic missing at the start", "no PAR1 magic at the start" },
        { "magic missing at the end", "no PAR1 magic at the end" },
        { "encrypted footer", "encrypted Parquet files are not supported" },
        { "too short", "too few for a Parquet file" },
        { "footer nested deep", "nested more than 64 deep" },
        { "footer list count huge", "claims 2147483647 elements" },
        { "footer string length huge", "claims 4294967295 bytes" },
        { "footer varint endless", "varint longer than 10 bytes" },
        // column chunk metadata
        { "data page offset beyond the file", "lies outside the data" },
        { "data page offset negative", "lies outside the data" },
        { "external column data", "in another file" },
        { "codec LZO", "compression codec Lzo is not supported" },
        { "rows huge, pages few", "the data ends after 2 of the chunk's 1099511627776 values" },
        { "value count differs from rows", "holds 3 values for 2 rows" },
        // page headers
        { "compressed size beyond the data", "past the end of the data" },
        { "compressed size negative", "negative sizes" },
        { "uncompressed size huge", "more than Uncompressed can" },
        { "uncompressed size huge, snappy", "more than Snappy can" },
        { "page values more than the chunk", "more than the 2 the chunk has left" },
        { "page values denser than 8 a byte", "more than 8 a byte" },
        { "page with no values", "a data page with no values" },
        { "dictionary page claims too many strings", "dictionary page claims 1000 strings" },
        { "unknown page type", "unknown page type 9" },
        { "page header garbage", "page header at byte 4" },
        // page data
        { "plain value length huge", "claims 2147483647 bytes" },
        { "plain values cut off", "plain values end after 1 of 2" },
        { "dictionary index out of range", "value 5 is out of range" },
        { "dictionary indices without a dictionary", "without a dictionary page" },
        { "unsupported value encoding", "value encoding DeltaByteArray is not supported" },
        { "snappy data corrupt", "Snappy data" },
        { "second dictionary page", "a dictionary page after the first page" },
        // the file as a whole
        { "two row groups on the same pages", "row group 2 of 2 (rows 3-4), column 'text': the column chunk at byte 4 lies inside one already read" },
        { "a dictionary entry used too often", "refused as a decompression bomb" },
    };

    static byte[] Build(string name)
    {
        var ok = new TinyParquet();
        byte[] plain = TinyParquet.Plain("w0r0", "w1r1");
        byte[] WithTail(Func<uint, uint> footerLength)
        {
            var b = ok.Build();
            BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(b.Length - 8), footerLength((uint)b.Length));
            return b;
        }
        byte[] WithFooter(byte[] footer) => [.. "PAR1"u8, .. footer, .. BitConverter.GetBytes(footer.Length), .. "PAR1"u8];
        byte[] Deep(int depth)
        {
            var w = new ThriftWriter();
            void Nest(ThriftWriter t, int left) { if (left > 0) t.Struct(1, inner => Nest(inner, left - 1)); }
            w.Struct(99, t => Nest(t, depth));
            return w.Stop().ToArray();
        }
        return name switch
        {
            "footer length huge" => WithTail(_ => 0x7fffffff),
            "footer length 2^32-1" => WithTail(_ => 0xffffffff),
            "footer length zero" => WithTail(_ => 0),
            "magic missing at the start" => [.. "XXXX"u8, .. ok.Build()[4..]],
            "magic missing at the end" => [.. ok.Build()[..^4], .. "PAR2"u8],
            "encrypted footer" => [.. "PARE"u8, .. ok.Build()[4..^4], .. "PARE"u8],
            "too short" => "PAR1PAR1"u8.ToArray(),
            "footer nested deep" => WithFooter(Deep(1000)),
            "footer list count huge" => WithFooter(new ThriftWriter().Raw(0x29, 0xFC, 0xFF, 0xFF, 0xFF, 0xFF, 0x07).ToArray()),
            "footer string length huge" => WithFooter(new ThriftWriter().Raw(0x68, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3).ToArray()),
            "footer varint endless" => WithFooter(new ThriftWriter().Raw(0x15, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF).ToArray()),
            "data page offset beyond the file" => (ok with { DataPageOffset = 1L << 40 }).Build(),
            "data page offset negative" => (ok with { DataPageOffset = -5 }).Build(),
            "external column data" => (ok with { ExternalPath = "/etc/passwd" }).Build(),
            "codec LZO" => (ok with { Codec = Lzo }).Build(),
            "rows huge, pages few" => (ok with { Rows = 1L << 40 }).Build(),
            "value count differs from rows" => (ok with { ValueCount = 3 }).Build(),
            "compressed size beyond the data" => (ok with { Pages = [TinyParquet.Page(DataPage, 16, 1 << 30, 2, Plain, plain)] }).Build(),
            "compressed size negative" => (ok with { Pages = [TinyParquet.Page(DataPage, 16, -1, 2, Plain, plain)] }).Build(),
            "uncompressed size huge" => (ok with { Pages = [TinyParquet.Page(DataPage, int.MaxValue, plain.Length, 2, Plain, plain)] }).Build(),
            "uncompressed size huge, snappy" => (ok with { Codec = Snappy, Pages = [TinyParquet.Page(DataPage, int.MaxValue, plain.Length, 2, Plain, plain)] }).Build(),
            "page values more than the chunk" => (ok with { Pages = [TinyParquet.DataPage(plain, int.MaxValue)] }).Build(),
            "page values denser than 8 a byte" => (ok with { Rows = 1000, Pages = [TinyParquet.DataPage(plain, 1000)] }).Build(),
            "page with no values" => (ok with { Pages = [TinyParquet.DataPage(plain, 0)] }).Build(),
            "dictionary page claims too many strings" => (ok with { Pages = [TinyParquet.DictionaryPage(plain, 1000), TinyParquet.DataPage([1, 2, 0b10], 2, RleDictionary)] }).Build(),
            "unknown page type" => (ok with { Pages = [TinyParquet.Page(9, plain.Length, plain.Length, 2, Plain, plain)] }).Build(),
            "page header garbage" => (ok with { Pages = [[0xFF, 0xFF, 0xFF, 0xFF, .. plain]] }).Build(),
            "plain value length huge" => (ok with { Pages = [TinyParquet.DataPage([0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3, 4], 2)] }).Build(),
            "plain values cut off" => (ok with { Pages = [TinyParquet.DataPage(plain[..^5], 2)] }).Build(),
            // dictionary of 2 strings; indices: bit width 3, an RLE run of 2 values of 5
            "dictionary index out of range" => (ok with { Pages = [TinyParquet.DictionaryPage(plain, 2), TinyParquet.DataPage([3, 4, 5], 2, RleDictionary)] }).Build(),
            "dictionary indices without a dictionary" => (ok with { Pages = [TinyParquet.DataPage([1, 4, 0], 2, RleDictionary)] }).Build(),
            "unsupported value encoding" => (ok with { Pages = [TinyParquet.DataPage(plain, 2, DeltaByteArray)] }).Build(),
            "snappy data corrupt" => (ok with { Codec = Snappy, Pages = [TinyParquet.Page(DataPage, plain.Length, 4, 2, Plain, [(byte)plain.Length, 0xFF, 0xFF, 0xFF])] }).Build(),
            "second dictionary page" => (ok with { Pages = [TinyParquet.DictionaryPage(plain, 2), TinyParquet.DictionaryPage(plain, 2)] }).Build(),
            "two row groups on the same pages" => (ok with { RowGroupCount = 2 }).Build(),
            // one entry of 4000 characters, then 4800 one-bit indices to it: 600 bytes that decode to 19 million characters
            "a dictionary entry used too often" => (ok with
            {
                Rows = 4800,
                Pages = [TinyParquet.DictionaryPage(TinyParquet.Plain(string.Concat(Enumerable.Repeat("w0", 2000))), 1),
                         TinyParquet.DataPage([1, 0xB1, 0x09, .. new byte[600]], 4800, RleDictionary)],
            }).Build(),
            _ => throw new ArgumentException(name),
        };
    }

    [Theory]
    [MemberData(nameof(Crafted))]
    public void Each_hostile_file_is_a_problem_report_that_says_what_is_wrong(string name, string expected)
    {
        string reason = ProblemOf(Build(name));
        Assert.Contains(expected, reason);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Version_2_data_pages_read_with_their_definition_levels(bool snappy)
    {
        var plain = TinyParquet.Plain("w0r0", "w1r1");
        var values = snappy ? Snappier.Snappy.CompressToArray(plain) : plain;
        byte[] levels = [0x03, 0b101]; // one bit-packed group: defined, null, defined
        var bytes = new TinyParquet
        {
            Repetition = 1, Rows = 3, Codec = snappy ? Snappy : Uncompressed,
            Pages = [TinyParquet.DataPageV2(levels, values, count: 3, nulls: 1, plain.Length, compressed: snappy)],
        }.Build();
        var problem = Assert.Single(CheckInvalid(bytes).Problems.Problems);
        Assert.Equal(2, problem.Line);
        Assert.Contains("null value in column 'text'", problem.Reason);
    }

    [Fact]
    public void Problems_inside_a_row_group_name_the_row_group_and_the_column()
    {
        var bytes = (new TinyParquet() with { Pages = [TinyParquet.DataPage([0xFF, 0xFF, 0xFF, 0x7F], 2)] }).Build();
        var reason = ProblemOf(bytes);
        Assert.StartsWith("row group 1 of 1 (rows 1-2), column 'text': page at byte 4: ", reason);
    }

    [Fact]
    public void A_file_truncated_anywhere_is_reported()
    {
        var bytes = ValidFile(count: 20, length: 16);
        for (int cut = 0; cut < bytes.Length; cut++) CheckInvalid(bytes[..cut]);
    }

    [Fact]
    public void Every_byte_of_a_page_header_corrupted_is_reported_or_harmless()
    {
        var bytes = ValidFile(count: 20, length: 16);
        using var dir = new TempDir();
        File.WriteAllBytes(dir.File("v.parquet"), bytes);
        long start;
        using (var handle = File.OpenHandle(dir.File("v.parquet")))
            start = ParquetFile.Open(new FileByteSource(handle)).Metadata.RowGroups[0].Columns[0]!.Start;
        for (int k = 0; k < 24; k++)
        foreach (byte value in new byte[] { 0x00, 0x15, 0x7F, 0x80, 0xFF })
        {
            var copy = (byte[])bytes.Clone();
            copy[start + k] = value;
            File.WriteAllBytes(dir.File("c.parquet"), copy);
            var result = FlipFlopFiles.Check(dir.File("c.parquet"));
            Assert.All(result.Problems.Problems, p => Assert.StartsWith(dir.File("c.parquet") + ": ", p.ToString()));
            Assert.True(result.IsValid || result.Problems.Total > 0);
        }
    }

    [Fact]
    public void A_column_that_is_not_a_string_column_is_named_with_its_type()
    {
        var reason = ProblemOf(new TinyParquet { PhysicalType = 2 }.Build());
        Assert.Contains("column 'text' is not a plain string column: it is Int64", reason);
        var repeated = ProblemOf(new TinyParquet { Repetition = 2 }.Build());
        Assert.Contains("column 'text' is not a plain string column: it is a repeated ByteArray", repeated);
    }

    /// <summary>Writes one column with Parquet.Net, the writer of our own files.</summary>
    static async Task WriteColumn<T>(string path, Parquet.Schema.DataField field, Func<Parquet.ParquetRowGroupWriter, Task> write,
        Parquet.ParquetOptions? options = null)
    {
        await using var stream = File.Create(path);
        await using var writer = await Parquet.ParquetWriter.CreateAsync(new Parquet.Schema.ParquetSchema(field), stream, options,
            cancellationToken: TestContext.Current.CancellationToken);
        using var group = writer.CreateRowGroup();
        await write(group);
    }

    [Fact]
    public async Task Wrong_column_types_written_by_parquet_net_are_named()
    {
        using var dir = new TempDir();
        var field = new Parquet.Schema.DataField<long>("text");
        await WriteColumn<long>(dir.File("ints.parquet"), field,
            g => g.WriteAsync<long>(field, new long[] { 1, 2, 3 }.AsMemory(), cancellationToken: TestContext.Current.CancellationToken));
        var reason = Assert.Single(FlipFlopFiles.Check(dir.File("ints.parquet")).Problems.Problems).Reason;
        Assert.Contains("column 'text' is not a plain string column: it is Int64", reason);
    }

    [Fact]
    public async Task Nulls_in_an_optional_column_are_reported_by_row()
    {
        using var dir = new TempDir();
        var field = new Parquet.Schema.DataField<string>("text", nullable: true);
        await WriteColumn<string>(dir.File("nulls.parquet"), field, g => g.WriteAsync(field, new string?[] { "w0r0", null, "w1r1" }));
        var problem = Assert.Single(FlipFlopFiles.Check(dir.File("nulls.parquet")).Problems.Problems);
        Assert.Equal(2, problem.Line);
        Assert.Contains("null value in column 'text'", problem.Reason);
    }

    [Theory]
    [InlineData(Parquet.CompressionMethod.None)]
    [InlineData(Parquet.CompressionMethod.Snappy)]
    [InlineData(Parquet.CompressionMethod.Gzip)]
    [InlineData(Parquet.CompressionMethod.Brotli)]
    [InlineData(Parquet.CompressionMethod.Zstd)]
    [InlineData(Parquet.CompressionMethod.Lz4Raw)]
    public async Task Every_supported_codec_and_dictionary_encoding_reads_back(Parquet.CompressionMethod codec)
    {
        using var dir = new TempDir();
        var data = new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.8)).SampleMany(2, RandomDomain.Dataset, 0, 300, 8);
        var text = Enumerable.Range(0, data.Count).Select(data.SequenceText).ToArray();
        foreach (bool dictionary in new[] { false, true })
        {
            var field = new Parquet.Schema.DataField<string>("text", nullable: dictionary);
            var options = new Parquet.ParquetOptions { CompressionMethod = codec };
            if (dictionary) options.ColumnEncodingHints["text"] = Parquet.EncodingHint.Dictionary;
            string path = dir.File($"{codec}-{dictionary}.parquet");
            await WriteColumn<string>(path, field, g => g.WriteAsync(field, text), options);
            var result = FlipFlopFiles.Check(path);
            Assert.True(result.IsValid, string.Join("\n", result.Problems.Problems));
            Assert.Equal(data.Tokens, result.Dataset!.Tokens);
        }
    }
}
