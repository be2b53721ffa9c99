using System.Runtime.InteropServices;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Engine.Data;

/// <summary>A stream that can only be read forward, as a pipe.</summary>
public sealed class PipeStream(byte[] bytes) : Stream
{
    readonly MemoryStream _inner = new(bytes, writable: false);
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    // Short reads, as pipes give.
    public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 7));
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override void Flush() { }
}

/// <summary>Inputs that cannot be read twice (pipes, /dev/stdin) are read once and read right.</summary>
[Trait("Category", "Cpu")]
public class PipeTests
{
    static FlipFlopDataset SomeData() =>
        new FlipFlopSampler(FlipFlopDistribution.WithIgnore(0.8)).SampleMany(4, RandomDomain.Dataset, 0, 50, 24);

    static byte[] FileBytes(string name, Action<string> write)
    {
        using var dir = new TempDir();
        write(dir.File(name));
        return File.ReadAllBytes(dir.File(name));
    }

    [Theory]
    [InlineData("d.txt", DataFileFormat.Text)]
    [InlineData("d.parquet", DataFileFormat.Parquet)]
    public void Valid_data_through_a_pipe_reads_as_from_the_file(string name, DataFileFormat format)
    {
        var data = SomeData();
        var bytes = FileBytes(name, path => FlipFlopFiles.Write(path, data));
        using var input = DataInput.Open(new PipeStream(bytes), "/dev/stdin");
        Assert.Equal(format, input.Format);
        Assert.Equal(DataFileKind.FlipFlop, input.Kind);
        var result = FlipFlopFiles.Check(input);
        Assert.True(result.IsValid, string.Join("\n", result.Problems.Problems));
        Assert.Equal(data.Tokens, result.Dataset!.Tokens);
    }

    [Theory]
    [InlineData("a.txt")]
    [InlineData("a.parquet")]
    public void Automaton_data_through_a_pipe_is_told_and_read(string name)
    {
        var data = new AutomatonSampler(0.3).SampleMany(1, 0, 20, 30);
        var bytes = FileBytes(name, path => AutomatonFiles.Write(path, data));
        using var input = DataInput.Open(new PipeStream(bytes), "/dev/stdin");
        Assert.Equal(DataFileKind.Automaton, input.Kind);
        var (read, problems) = AutomatonFiles.Check(input);
        Assert.Equal(0, problems.Total);
        Assert.Equal(data.Inputs, read!.Inputs);
    }

    [Fact]
    public void Invalid_data_through_a_pipe_is_reported_under_its_name()
    {
        using (var text = DataInput.Open(new PipeStream("w1r1\nw1r0\n"u8.ToArray()), "/dev/stdin"))
        {
            var problem = Assert.Single(FlipFlopFiles.Check(text).Problems.Problems);
            Assert.Equal("/dev/stdin: line 2, column 4: read gives '0' but the last write (column 2) wrote '1'", problem.ToString());
        }
        var parquet = FileBytes("d.parquet", path => FlipFlopFiles.Write(path, SomeData()));
        using (var truncated = DataInput.Open(new PipeStream(parquet[..^20]), "/dev/stdin"))
        {
            var problem = Assert.Single(FlipFlopFiles.Check(truncated).Problems.Problems);
            Assert.StartsWith("/dev/stdin: not a readable Parquet file: ", problem.ToString());
        }
    }

    [Fact]
    public void Parquet_through_a_pipe_is_buffered_up_to_a_bound()
    {
        var bytes = FileBytes("d.parquet", path => FlipFlopFiles.Write(path, SomeData()));
        using var input = DataInput.Open(new PipeStream(bytes), "/dev/stdin", maxBufferedParquetBytes: bytes.Length - 1);
        var problem = Assert.Single(FlipFlopFiles.Check(input).Problems.Problems);
        Assert.StartsWith($"/dev/stdin: not a readable Parquet file: Parquet read from a pipe is held in memory, up to {bytes.Length - 1} bytes",
            problem.ToString());
    }

    [Fact]
    public void An_input_is_read_once()
    {
        using var input = DataInput.Open(new PipeStream("w1r1\n"u8.ToArray()), "pipe");
        Assert.True(FlipFlopFiles.Check(input).IsValid);
        Assert.Throws<InvalidOperationException>(() => FlipFlopFiles.Check(input));
    }

    [DllImport("libc", SetLastError = true)]
    static extern int mkfifo(string path, uint mode);

    /// <summary>Runs the command line on a named pipe that <paramref name="bytes"/> are written into.</summary>
    static async Task<CliRunner.Result> RunOnFifo(byte[] bytes, CancellationToken cancel, params string[] command)
    {
        using var dir = new TempDir();
        string fifo = dir.File("pipe");
        Assert.Equal(0, mkfifo(fifo, 0x180)); // 0600
        var writer = Task.Run(() =>
        {
            using var stream = new FileStream(fifo, FileMode.Open, FileAccess.Write);
            try { stream.Write(bytes); } catch (IOException) { } // the reader may stop early
        }, cancel);
        var result = await Task.Run(() => CliRunner.Run([.. command, fifo]), cancel);
        await writer.WaitAsync(cancel);
        return result;
    }

    [Theory(Timeout = 60_000)]
    [InlineData("d.txt", "valid (text), 50 sequences of length 24")]
    [InlineData("d.parquet", "valid (parquet), 50 sequences of length 24")]
    public async Task Data_check_and_stats_read_a_named_pipe(string name, string expected)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "named pipes are made with Linux's mkfifo");
        var bytes = FileBytes(name, path => FlipFlopFiles.Write(path, SomeData()));
        var check = await RunOnFifo(bytes, TestContext.Current.CancellationToken, "data", "check");
        Assert.True(check.ExitCode == 0, check.Err);
        Assert.Contains(expected, check.Out);
        var stats = await RunOnFifo(bytes, TestContext.Current.CancellationToken, "data", "stats", "--json");
        Assert.True(stats.ExitCode == 0, stats.Err);
        Assert.Contains("\"sequences\": 50", stats.Out);
    }

    [Fact(Timeout = 60_000)]
    public async Task Data_check_reports_invalid_data_on_a_named_pipe()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "named pipes are made with Linux's mkfifo");
        var check = await RunOnFifo("w1r1\nw1r0\n"u8.ToArray(), TestContext.Current.CancellationToken, "data", "check");
        Assert.Equal(2, check.ExitCode);
        Assert.Contains("line 2, column 4: read gives '0'", check.Err);
    }

    [Theory(Timeout = 60_000)]
    [InlineData("d.txt")]
    [InlineData("d.parquet")]
    public async Task Eval_and_grads_read_their_data_from_a_named_pipe(string name)
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "named pipes are made with Linux's mkfifo");
        using var dir = new TempDir();
        using (var device = new CpuDevice())
        using (var model = ModelFactory.Create(ModelConfig.Lstm(4, 4), new CpuOps<float>(device)))
        {
            model.Initialize(1);
            Checkpoint.Save(model, dir.File("m.safetensors"));
        }
        var bytes = FileBytes(name, path => FlipFlopFiles.Write(path, SomeData()));
        var cancel = TestContext.Current.CancellationToken;
        var eval = await RunOnFifo(bytes, cancel, "eval", "--checkpoint", dir.File("m.safetensors"), "--json", "--split");
        Assert.True(eval.ExitCode == 0, eval.Err);
        Assert.Contains("\"sequences\": 50", eval.Out);
        var grads = await RunOnFifo(bytes, cancel, "grads", "--checkpoint", dir.File("m.safetensors"), "--out", dir.File("g.safetensors"), "--data");
        Assert.True(grads.ExitCode == 0, grads.Err);
        Assert.Contains("of 50 sequences", grads.Out);
    }
}
