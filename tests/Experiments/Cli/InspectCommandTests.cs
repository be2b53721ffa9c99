using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Random;
using RawFlipFlop.Tests.Kernels;

namespace RawFlipFlop.Tests.Experiments.Cli;

public sealed class InspectCommandTests
{
    static string SaveModel(TempDir dir, ModelConfig config, string name = "m.safetensors")
    {
        using var device = new CpuDevice();
        using var model = ModelFactory.Create(config, new CpuOps<float>(device));
        model.Initialize(3);
        Checkpoint.Save(model, dir.File(name));
        return dir.File(name);
    }

    static float[] Floats(SafeTensor t) => t.ToDoubles().Select(x => (float)x).ToArray();

    [Fact]
    [Trait("Category", "Cpu")]
    public void Attention_of_a_set_sequence_is_the_models_own_with_rows_summing_to_one()
    {
        using var dir = new TempDir();
        var config = ModelConfig.Transformer(2, 16, 2, 32);
        string path = SaveModel(dir, config);
        var r = CliRunner.Run("inspect", "attention", "--checkpoint", path, "--from", "sparse:5", "--layers", "1", "--out", dir.File("out"));
        Assert.True(r.ExitCode == 0, r.Err);
        foreach (var f in new[] { "attention.png", "attention.svg", "attention.safetensors" })
            Assert.True(File.ReadAllBytes(dir.File("out/" + f)).Length > 500, f);
        var contents = SafeTensors.Read(dir.File("out/attention.safetensors"));
        var probs = contents.Find("probabilities")!;
        Assert.Equal([1, 2, 32, 32], probs.Shape);
        // the tokens are sequence 5 of the sparse set at the model's length
        var expected = new byte[32];
        new FlipFlopSampler(EvaluationSets.Sparse.Distribution).Sample(EvaluationSets.Sparse.Seed, RandomDomain.Dataset, 5, expected);
        Assert.Equal(expected.Select(x => (double)x), contents.Find("tokens")!.ToDoubles());
        // the same probabilities as the model's analysis op, causal rows summing to 1
        using var device = new CpuDevice();
        using var model = (TransformerModel<float>)Checkpoint.LoadModel(path, new CpuOps<float>(device));
        var tokens = device.AllocateFrom<int>(expected.Select(x => (int)x).ToArray());
        model.Forward(tokens, 1, 32, PassOptions.Evaluation);
        var direct = device.ToArray(model.AttentionProbabilities(1));
        device.Free(tokens);
        Assert.Equal(direct, Floats(probs));
        for (int h = 0; h < 2; h++)
            for (int i = 0; i < 32; i++)
            {
                var row = direct.AsSpan((h * 32 + i) * 32, 32);
                Assert.Equal(1.0, row.ToArray().Sum(x => (double)x), 5);
                for (int j = i + 1; j < 32; j++) Assert.Equal(0f, row[j]);
            }
    }

    [Fact]
    [Trait("Category", "Cpu")]
    public void Wrong_states_of_an_automaton_model_are_marked_and_bad_requests_are_refused()
    {
        using var dir = new TempDir();
        var config = ModelConfig.Transformer(1, 8, 1, 16, PositionEncoding.Linear) with { VocabSize = Automaton.InputVocabulary };
        string path = SaveModel(dir, config);
        var r = CliRunner.Run("inspect", "attention", "--checkpoint", path, "--sequence", "-0--1--0", "--out", dir.File("a"));
        Assert.True(r.ExitCode == 0, r.Err);
        var contents = SafeTensors.Read(dir.File("a/attention.safetensors"));
        var predictions = contents.Find("predictions")!.ToDoubles();
        var errors = contents.Find("errors")!.ToDoubles();
        var states = new byte[8];
        Automaton.Run([0, 1, 0, 0, 2, 0, 0, 1], states);
        for (int i = 0; i < 8; i++) Assert.Equal(predictions[i] != states[i] ? 1.0 : 0.0, errors[i]);

        string lstm = SaveModel(dir, ModelConfig.Lstm(4, 4), "lstm.safetensors");
        foreach (var (args, mention) in new (string[], string)[]
        {
            (["--checkpoint", lstm, "--sequence", "w1r1"], "no attention"),
            (["--checkpoint", path, "--sequence", "-0x"], "--sequence"),
            (["--checkpoint", path], "--sequence/--from"),
            (["--checkpoint", path, "--sequence", "-0", "--from", "automaton:1"], "--sequence/--from"),
            (["--checkpoint", path, "--from", "sparse:1"], "--from"),
            (["--checkpoint", path, "--sequence", "-0", "--layers", "3"], "--layers"),
        })
        {
            var bad = CliRunner.Run(["inspect", "attention", .. args, "--out", dir.File("bad")]);
            Assert.Equal(2, bad.ExitCode);
            Assert.Contains(mention, bad.Err);
            Assert.False(Directory.Exists(dir.File("bad")));
        }
    }

    [Fact]
    [Trait("Category", "Emulator")]
    public void The_emulated_kernels_draw_the_same_attention()
    {
        Toolchain.RequireCompiler();
        using var dir = new TempDir();
        string path = SaveModel(dir, ModelConfig.Transformer(1, 16, 2, 24, PositionEncoding.Alibi));
        foreach (var backend in new[] { "cpu", "emulator" })
        {
            var r = CliRunner.Run("inspect", "attention", "--checkpoint", path, "--from", "dense:2", "--length", "24", "--backend", backend, "--out", dir.File(backend));
            Assert.True(r.ExitCode == 0, r.Err);
        }
        var cpu = Floats(SafeTensors.Read(dir.File("cpu/attention.safetensors")).Find("probabilities")!);
        var emulated = Floats(SafeTensors.Read(dir.File("emulator/attention.safetensors")).Find("probabilities")!);
        KernelAssert.Close(cpu, emulated, "attention probabilities, emulator vs cpu");
    }
}
