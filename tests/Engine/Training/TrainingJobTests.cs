using System.Text.Json;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Engine.Training.Tasks;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Tests.Engine.Training;

/// <summary>The run pipeline behind `train` and `experiment run`: resume, refusal of other options, tasks.</summary>
[Trait("Category", "Cpu")]
public sealed class TrainingJobTests
{
    static readonly string[] TrainArgs =
    [
        "train", "--model", "transformer", "--layers", "1", "--dim", "16", "--heads", "2", "--length", "32", "--batch", "4", "--steps", "20",
        "--lr", "3e-3", "--warmup", "2", "--eval-every", "5", "--eval-count", "20", "--offline", "sparse:20", "--dropout-attn", "0.1", "--quiet",
    ];

    static CliRunner.Result Train(string dir, params string[] extra) => CliRunner.Run([.. TrainArgs, .. extra, "--out", dir]);

    static TrainOptions OptionsOf(string dir)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, RunDirectory.SummaryFile)));
        return OptionsSchema.FromJson(doc.RootElement.GetProperty("options").GetRawText(), dir);
    }

    [Fact]
    public void Train_resumes_an_interrupted_run_bit_identically_and_refuses_a_state_of_other_options()
    {
        using var dir = new TempDir();
        var whole = Train(dir.File("whole"));
        Assert.True(whole.ExitCode == 0, whole.Err);
        Assert.False(File.Exists(dir.File("whole/" + RunDirectory.StateFile)), "the state is dropped once the results are written");

        // the same run abandoned after step 11: its last state is step 10
        var options = OptionsOf(dir.File("whole"));
        using (var device = new CpuDevice())
        using (var backend = new Backend("cpu", device, new CpuOps<float>(device)))
        using (var cancel = new CancellationTokenSource())
        {
            using var runDirectory = RunDirectory.Open(dir.File("cut"));
            var job = new TrainingJob(options, backend);
            Assert.ThrowsAny<OperationCanceledException>(() => job.Run(runDirectory, new SyncProgress<JobEvent>(e =>
            {
                if (e.Training is { Step: 11 }) cancel.Cancel();
            }), cancel.Token));
        }
        string state = dir.File("cut/" + RunDirectory.StateFile);
        Assert.True(File.Exists(state));
        Assert.False(File.Exists(dir.File("cut/" + RunDirectory.SummaryFile)));

        var stateBytes = File.ReadAllBytes(state);
        var other = Train(dir.File("cut"), "--seed", "2");
        Assert.NotEqual(0, other.ExitCode);
        Assert.Contains("seed: 1 there, 2 now", other.Err);
        Assert.Contains("--out", other.Err);
        Assert.Equal(stateBytes, File.ReadAllBytes(state));

        var resumed = CliRunner.Run([.. TrainArgs.Where(a => a != "--quiet"), "--out", dir.File("cut")]);
        Assert.True(resumed.ExitCode == 0, resumed.Err);
        Assert.Contains("resumed at step 10", resumed.Err);
        foreach (var file in new[] { RunDirectory.ModelFile, RunDirectory.BestFile })
            Assert.Equal(File.ReadAllBytes(dir.File("whole/" + file)), File.ReadAllBytes(dir.File("cut/" + file)));
        using var a = JsonDocument.Parse(File.ReadAllText(dir.File("whole/summary.json")));
        using var b = JsonDocument.Parse(File.ReadAllText(dir.File("cut/summary.json")));
        foreach (var key in new[] { "losses", "online", "diagnostics", "eval", "options", "options_hash", "status" })
            Assert.Equal(a.RootElement.GetProperty(key).GetRawText(), b.RootElement.GetProperty(key).GetRawText());
    }

    [Fact]
    public void A_run_records_its_matmul_precision_and_resumes_only_in_it()
    {
        using var dir = new TempDir();
        var options = new TrainOptions
        {
            Model = RawFlipFlop.Engine.Models.ModelConfig.Transformer(layers: 1, dim: 16, heads: 2, maxLength: 32), Length = 32, Batch = 4, Steps = 10,
            LearningRate = 3e-3, Warmup = 2, EvalEvery = 5, EvalCount = 10, Offline = [], MatmulPrecision = MatmulPrecision.Tf32x3,
        };
        using var device = new CpuDevice();
        using var backend = new Backend("cpu", device, new CpuOps<float>(device));
        void Run(string name, TrainOptions o, CancellationToken? cancelToken = null, Action<JobEvent>? onEvent = null)
        {
            var cancel = cancelToken ?? TestContext.Current.CancellationToken;
            using var runDirectory = RunDirectory.Open(dir.File(name));
            new TrainingJob(o, backend).Run(runDirectory, onEvent == null ? null : new SyncProgress<JobEvent>(onEvent), cancel);
        }
        Run("whole", options);
        Assert.Equal(MatmulPrecision.Tf32x3, OptionsOf(dir.File("whole")).MatmulPrecision);
        using (var summary = JsonDocument.Parse(File.ReadAllText(dir.File("whole/" + RunDirectory.SummaryFile))))
            Assert.Equal("3xtf32", summary.RootElement.GetProperty("options").GetProperty("matmul_precision").GetString());
        Assert.Equal("3xtf32", RawFlipFlop.Engine.Checkpoints.SafeTensors.Read(dir.File("whole/" + RunDirectory.ModelFile)).Metadata["matmul_precision"]);

        // Cut after step 7 (state at step 5): the state records the precision; other precisions are refused, the same one resumes bit-identically.
        using (var cancel = new CancellationTokenSource())
            Assert.ThrowsAny<OperationCanceledException>(() => Run("cut", options, cancel.Token, e => { if (e.Training is { Step: 7 }) cancel.Cancel(); }));
        string state = dir.File("cut/" + RunDirectory.StateFile);
        Assert.Contains("\"matmul_precision\":\"3xtf32\"", RawFlipFlop.Engine.Checkpoints.SafeTensors.Read(state).Metadata["options"]);
        var refused = Assert.Throws<OptionsMismatchException>(() => Run("cut", options with { MatmulPrecision = MatmulPrecision.Fp32 }));
        Assert.Contains("matmul_precision: \"3xtf32\" there", refused.Message); // fp32 is absent from the options now
        Run("cut", options);
        foreach (var file in new[] { RunDirectory.ModelFile, RunDirectory.BestFile })
            Assert.Equal(File.ReadAllBytes(dir.File("whole/" + file)), File.ReadAllBytes(dir.File("cut/" + file)));
    }

    [Fact]
    public void Experiment_run_refuses_a_directory_of_the_same_runs_with_other_options()
    {
        using var dir = new TempDir();
        var quick = CliRunner.Run("experiment", "run", "lstm", "--scale", "quick", "--replicates", "1", "--out", dir.File("lstm"));
        Assert.True(quick.ExitCode == 0, quick.Err);
        var store = File.ReadAllBytes(dir.File("lstm/results.db"));
        var paper = CliRunner.Run("experiment", "run", "lstm", "--scale", "paper", "--replicates", "1", "--out", dir.File("lstm"));
        Assert.NotEqual(0, paper.ExitCode);
        Assert.Contains("run lstm/lstm/0", paper.Err);
        Assert.Contains("steps: 300 there, 500 now", paper.Err);
        Assert.Contains("model.hidden: 32 there, 128 now", paper.Err);
        Assert.Equal(store, File.ReadAllBytes(dir.File("lstm/results.db")));
        // the same options again: skipped
        var again = CliRunner.Run("experiment", "run", "lstm", "--scale", "quick", "--replicates", "1", "--out", dir.File("lstm"));
        Assert.True(again.ExitCode == 0, again.Err);
        Assert.Contains("skipped (finished already)", again.Err);
    }

    [Fact]
    public void Train_runs_the_automaton_task_with_its_own_splits_and_attention_maps()
    {
        using var dir = new TempDir();
        var r = CliRunner.Run("train", "--task", "automaton", "--model", "transformer", "--layers", "1", "--dim", "16", "--heads", "1",
            "--pos", "linear", "--length", "30", "--batch", "4", "--steps", "10", "--lr", "3e-3", "--warmup", "2",
            "--eval-every", "5", "--eval-count", "8", "--quiet", "--out", dir.Path);
        Assert.True(r.ExitCode == 0, r.Err);
        using var doc = JsonDocument.Parse(File.ReadAllText(dir.File("summary.json")));
        var splits = doc.RootElement.GetProperty("eval").EnumerateArray().Select(e => e.GetProperty("split").GetString()).Distinct().ToList();
        Assert.Equal(["automaton", $"automaton-{AutomatonTask.DriftLength(30)}"], splits);
        Assert.True(File.Exists(dir.File(AttentionMaps.FileName)));
        var bad = CliRunner.Run("train", "--task", "automaton", "--model", "transformer", "--mode", "generative", "--out", dir.File("x"));
        Assert.NotEqual(0, bad.ExitCode);
        Assert.Contains("loss mode", bad.Err);
    }
}
