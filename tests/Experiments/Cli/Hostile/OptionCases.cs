namespace RawFlipFlop.Tests.Experiments.Cli.Hostile;

public sealed partial class HostileInputTests
{
    const int Invalid = 2, Failure = 1;

    static string[] TinyTransformer(Workspace w, params string[] extra) =>
    [
        "train", "--model", "transformer", "--layers", "1", "--dim", "8", "--heads", "2", "--length", "16", "--batch", "2", "--steps", "2",
        "--eval-every", "0", "--offline", "none", "--quiet", .. extra, "--out", w["run"],
    ];

    static string[] TinyLstm(Workspace w, params string[] extra) =>
        ["train", "--model", "lstm", "--embed-dim", "4", "--hidden", "4", "--length", "16", "--batch", "2", "--steps", "2", "--eval-every", "0",
         "--offline", "none", "--quiet", .. extra, "--out", w["run"]];

    /// <summary>Option values out of range or malformed, for every command: nothing may run or be written.</summary>
    static IEnumerable<HostileCase> OptionCases()
    {
        // train: every numeric option
        foreach (var (option, value) in new[]
        {
            ("--lr", "NaN"), ("--lr", "Infinity"), ("--lr", "-1"), ("--lr", "0"), ("--lr", "abc"),
            ("--batch", "0"), ("--batch", "-1"), ("--batch", "abc"), ("--batch", "2147483648"),
            ("--eval-batch", "0"), ("--eval-batch", "-3"), ("--steps", "0"), ("--steps", "-5"),
            ("--length", "0"), ("--length", "3"), ("--length", "7"), ("--length", "-2"),
            ("--warmup", "-1"), ("--decay-steps", "0"), ("--weight-decay", "-1"), ("--weight-decay", "NaN"),
            ("--adam-beta1", "1"), ("--adam-beta1", "-0.1"), ("--adam-beta2", "1.5"), ("--adam-eps", "0"), ("--adam-eps", "NaN"),
            ("--dropout-emb", "-0.1"), ("--dropout-attn", "1"), ("--dropout-ff", "NaN"), ("--sharpen", "NaN"), ("--sharpen", "Infinity"),
            ("--sharpen-layers", "5"), ("--sharpen-layers", "x"), ("--sharpen-layers", "-1"), ("--sharpen-layers", "0,0"),
            ("--eval-every", "-1"), ("--eval-count", "-1"), ("--offline", "foo:1"), ("--offline", "sparse:x"), ("--offline", "sparse:-1"),
            ("--mode", "noisy"), ("--task", "parity"), ("--pos", "spiral"), ("--pos", "rope_full"), ("--pos", "Rope"), ("--p-ignore", "1.5"), ("--p-ignore", "-0.1"), ("--p-ignore", "NaN"),
            ("--mixture", "a,b"), ("--mixture", "2"), ("--mixture", ","), ("--backend", "tpu"), ("--seed", "-1"), ("--data-seed", "abc"),
            ("--automaton-p-write", "2"), ("--layers", "0"), ("--layers", "-1"), ("--dim", "0"), ("--heads", "0"), ("--heads", "3"),
            ("--max-length", "1"), ("--linear-divisor", "0"), ("--decay-steps", "abc"), ("--unknown-option", "1"),
            ("--loss-read-every", "0"), ("--loss-read-every", "-4"), ("--loss-read-every", "x"), ("--graphs", "maybe"), ("--graphs", "ON"),
        })
        {
            string mention = option switch { "--unknown-option" => "--unknown-option", "--pos" => "--pos", _ => option };
            var extra = option == "--linear-divisor" ? new[] { "--pos", "linear", option, value } : new[] { option, value };
            yield return new($"train {option} {value}", Invalid, mention, w => TinyTransformer(w, extra));
        }
        yield return new("train --no-abs-pos without alibi", Invalid, "--no-abs-pos", w => TinyTransformer(w, "--no-abs-pos"));
        yield return new("train lstm --no-abs-pos", Invalid, "--no-abs-pos", w => TinyLstm(w, "--no-abs-pos"));
        yield return new("train --pos rope with an odd rotary dimension", Invalid, "--pos", w =>
            ["train", "--model", "transformer", "--layers", "1", "--dim", "6", "--heads", "2", "--pos", "rope", "--length", "16", "--steps", "1",
             "--offline", "none", "--quiet", "--out", w["run"]]);
        yield return new("train lstm with dropout", Invalid, "--model", w => TinyLstm(w, "--dropout-attn", "0.1"));
        yield return new("train lstm --hidden 0", Invalid, "hidden", w => TinyLstm(w, "--hidden", "0"));
        yield return new("train lstm --hidden 1073741824", Invalid, "hidden", w => TinyLstm(w, "--hidden", "1073741824"));
        yield return new("train lstm --embed-dim -4", Invalid, "embed", w => TinyLstm(w, "--embed-dim", "-4"));
        yield return new("train --layers 2147483647", Invalid, "layers", w => TinyTransformer(w, "--layers", "2147483647"));
        yield return new("train --dim 1000000000", Invalid, "dim", w => TinyTransformer(w, "--dim", "1000000000", "--heads", "1"));
        yield return new("train --max-length 2147483647", Invalid, "max", w => TinyTransformer(w, "--max-length", "2147483647"));
        // one sequence of 100000 tokens trains (the attention keeps no T x T matrix); 4096 of them need about 392 GiB
        yield return new("train --length 100000 --batch 4096", Invalid, "--length", w =>
            ["train", "--model", "transformer", "--layers", "1", "--dim", "8", "--heads", "2", "--length", "100000", "--batch", "4096", "--steps", "1",
             "--eval-every", "0", "--offline", "none", "--quiet", "--out", w["run"]]);
        yield return new("train --eval-count huge", Invalid, "--eval-count", w => TinyTransformer(w, "--eval-count", "2000000000"));
        yield return new("train --offline sparse:2000000000", Invalid, "--offline", w => TinyTransformer(w, "--offline", "sparse:2000000000"));
        yield return new("train automaton generative", Invalid, "--mode", w => TinyTransformer(w, "--task", "automaton", "--mode", "generative"));
        yield return new("train automaton offline", Invalid, "--offline", w =>
            ["train", "--task", "automaton", "--model", "lstm", "--embed-dim", "4", "--hidden", "4", "--length", "16", "--steps", "1",
             "--offline", "sparse:3", "--out", w["run"]]);
        yield return new("train without --out", Invalid, "--out", _ => ["train", "--model", "lstm"]);
        string[] TrainOn(Workspace w, string data, params string[] extra) =>
            ["train", "--model", "lstm", "--embed-dim", "4", "--hidden", "4", "--steps", "1", "--eval-every", "0", "--offline", "none", "--data", data, "--out", w["run"], .. extra];
        yield return new("train --data missing file", Invalid, "--data", w => TrainOn(w, w["none.txt"]));
        yield return new("train --data with --p-ignore", Invalid, "--data", w => TrainOn(w, w.FlipFlopText(), "--p-ignore", "0.9"));
        yield return new("train --data with --mixture", Invalid, "--data", w => TrainOn(w, w.FlipFlopText(), "--mixture", "0.9,0.1"));
        yield return new("train --data of another length", Invalid, "--length", w => TrainOn(w, w.FlipFlopParquet(), "--length", "32"));
        yield return new("train --data invalid strings", Invalid, "bad.txt", w => TrainOn(w, w.Text("bad.txt", "w0r1\n")));
        yield return new("train --data for the automaton", Invalid, "--data", w => TrainOn(w, w.FlipFlopText(), "--task", "automaton"));
        yield return new("train --data empty file", Invalid, "empty.txt", w => TrainOn(w, w.Text("empty.txt", "")));
        yield return new("train without --model", Invalid, "--model", w => ["train", "--out", w["run"]]);

        // eval and grads
        yield return new("eval missing checkpoint", Invalid, "nope.safetensors", w => ["eval", "--checkpoint", w["nope.safetensors"]]);
        yield return new("eval checkpoint is a directory", Invalid, "adir", w => ["eval", "--checkpoint", w.Directory("adir")]);
        yield return new("eval --batch 0", Invalid, "--batch", w => ["eval", "--checkpoint", w.Checkpoint(), "--batch", "0"]);
        yield return new("eval --count -1", Invalid, "--count", w => ["eval", "--checkpoint", w.Checkpoint(), "--count", "-1"]);
        yield return new("eval --length 7", Invalid, "--length", w => ["eval", "--checkpoint", w.Checkpoint(), "--length", "7"]);
        yield return new("eval --split unknown", Invalid, "--split", w => ["eval", "--checkpoint", w.Checkpoint(), "--split", "moderate"]);
        yield return new("eval --backend tpu", Invalid, "--backend", w => ["eval", "--checkpoint", w.Checkpoint(), "--backend", "tpu"]);
        yield return new("eval beyond max_length", Invalid, "max_length", w =>
            ["eval", "--checkpoint", w.Checkpoint(transformer: true), "--split", "sparse", "--count", "2", "--length", "32"]);
        yield return new("eval --count huge", Invalid, "--count", w => ["eval", "--checkpoint", w.Checkpoint(), "--count", "2000000000"]);
        foreach (var (what, value) in new[] { ("0", "0"), ("negative", "-0.5"), ("nan", "NaN"), ("infinite", "Infinity"), ("text", "cold") })
            yield return new($"eval --attention-temperature {what}", Invalid, "--attention-temperature", w =>
                ["eval", "--checkpoint", w.Checkpoint(transformer: true), "--count", "2", "--length", "16", "--attention-temperature", value]);
        yield return new("eval --attention-temperature on an lstm", Invalid, "no attention", w =>
            ["eval", "--checkpoint", w.Checkpoint(), "--count", "2", "--attention-temperature", "0.5"]);
        yield return new("eval --temperature-layers beyond the model", Invalid, "--temperature-layers", w =>
            ["eval", "--checkpoint", w.Checkpoint(transformer: true), "--count", "2", "--length", "16", "--attention-temperature", "0.5", "--temperature-layers", "1"]);
        yield return new("eval --temperature-layers not a number", Invalid, "--temperature-layers", w =>
            ["eval", "--checkpoint", w.Checkpoint(transformer: true), "--count", "2", "--length", "16", "--attention-temperature", "0.5", "--temperature-layers", "first"]);
        yield return new("grads missing checkpoint", Invalid, "nope.safetensors", w => ["grads", "--checkpoint", w["nope.safetensors"], "--data", w.FlipFlopText(), "--out", w["g.safetensors"]]);
        yield return new("grads missing data", Invalid, "nodata.txt", w => ["grads", "--checkpoint", w.Checkpoint(), "--data", w["nodata.txt"], "--out", w["g.safetensors"]]);
        yield return new("grads --precision half", Invalid, "--precision", w => ["grads", "--checkpoint", w.Checkpoint(), "--data", w.FlipFlopText(), "--precision", "half", "--out", w["g.safetensors"]]);
        yield return new("grads --mode noisy", Invalid, "--mode", w => ["grads", "--checkpoint", w.Checkpoint(), "--data", w.FlipFlopText(), "--mode", "noisy", "--out", w["g.safetensors"]]);
        yield return new("grads double on the emulator", Invalid, "--precision", w => ["grads", "--checkpoint", w.Checkpoint(), "--data", w.FlipFlopText(), "--precision", "double", "--backend", "emulator", "--out", w["g.safetensors"]]);
        yield return new("grads --out into a missing directory of a file", Failure, "ok.txt", w => ["grads", "--checkpoint", w.Checkpoint(), "--data", w.FlipFlopText(), "--out", Path.Combine(w.FlipFlopText(), "g.safetensors")]);

        // data
        yield return new("data generate --p-ignore 1.5", Invalid, "--p-ignore", w => ["data", "generate", "--p-ignore", "1.5", "--out", w["d.txt"]]);
        yield return new("data generate --p-write alone", Invalid, "--p-write", w => ["data", "generate", "--p-write", "0.5", "--out", w["d.txt"]]);
        yield return new("data generate --p-write --p-read above 1", Invalid, "p_", w => ["data", "generate", "--p-write", "0.7", "--p-read", "0.7", "--out", w["d.txt"]]);
        yield return new("data generate --count -1", Invalid, "--count", w => ["data", "generate", "--p-ignore", "0.8", "--count", "-1", "--out", w["d.txt"]]);
        yield return new("data generate --length 7", Invalid, "--length", w => ["data", "generate", "--p-ignore", "0.8", "--length", "7", "--out", w["d.txt"]]);
        yield return new("data generate --length 0", Invalid, "--length", w => ["data", "generate", "--p-ignore", "0.8", "--length", "0", "--out", w["d.txt"]]);
        yield return new("data generate --first -5", Invalid, "--first", w => ["data", "generate", "--p-ignore", "0.8", "--first", "-5", "--out", w["d.txt"]]);
        yield return new("data generate --split unknown", Invalid, "--split", w => ["data", "generate", "--split", "moderate", "--out", w["d.txt"]]);
        yield return new("data generate --split with --seed", Invalid, "--split", w => ["data", "generate", "--split", "dense", "--seed", "4", "--out", w["d.txt"]]);
        yield return new("data generate --mixture bad", Invalid, "--mixture", w => ["data", "generate", "--mixture", "0.9,x", "--out", w["d.txt"]]);
        yield return new("data generate --automaton --p-ignore", Invalid, "--automaton", w => ["data", "generate", "--automaton", "--p-ignore", "0.5", "--out", w["d.txt"]]);
        yield return new("data generate --automaton --length 0", Invalid, "--length", w => ["data", "generate", "--automaton", "--length", "0", "--out", w["d.txt"]]);
        yield return new("data generate no distribution", Invalid, "--p-ignore", w => ["data", "generate", "--out", w["d.txt"]]);
        yield return new("data generate --count huge", Invalid, "--count", w => ["data", "generate", "--p-ignore", "0.8", "--count", "2000000000", "--out", w["d.txt"]]);
        yield return new("data generate --out under a file", Failure, "ok.txt", w => ["data", "generate", "--p-ignore", "0.8", "--count", "2", "--out", Path.Combine(w.FlipFlopText(), "d.txt")]);
        yield return new("data generate --out is a directory", Failure, "adir", w => ["data", "generate", "--p-ignore", "0.8", "--count", "2", "--out", w.Directory("adir")]);
        yield return new("data check missing file", Invalid, "nothere.txt", w => ["data", "check", w["nothere.txt"]]);
        yield return new("data check --limit -1", Invalid, "--limit", w => ["data", "check", w.FlipFlopText(), "--limit", "-1"]);
        yield return new("data check a directory", Invalid, "adir", w => ["data", "check", w.Directory("adir")]);
        yield return new("data stats missing file", Invalid, "nothere.txt", w => ["data", "stats", w["nothere.txt"]]);
        yield return new("data stats a directory", Invalid, "adir", w => ["data", "stats", w.Directory("adir")]);

        // model
        yield return new("model --model gru", Invalid, "--model", _ => ["model", "--model", "gru"]);
        yield return new("model --layers 0", Invalid, "layers", _ => ["model", "--model", "transformer", "--layers", "0"]);
        yield return new("model --heads 3", Invalid, "heads", _ => ["model", "--model", "transformer", "--heads", "3"]);
        yield return new("model --pos rope, d_h 66", Invalid, "--pos", _ => ["model", "--model", "transformer", "--dim", "132", "--heads", "2", "--pos", "rope"]);
        yield return new("model --pos rope-full, d_h 5", Invalid, "--pos", _ => ["model", "--model", "transformer", "--dim", "10", "--heads", "2", "--pos", "rope-full"]);
        yield return new("model --pos sinusoidal, odd dim", Invalid, "--pos", _ => ["model", "--model", "transformer", "--dim", "9", "--heads", "3", "--pos", "sinusoidal"]);
        yield return new("model --no-abs-pos --pos rope", Invalid, "--no-abs-pos", _ => ["model", "--model", "transformer", "--pos", "rope", "--no-abs-pos"]);
        yield return new("model --hidden 1073741824", Invalid, "hidden", _ => ["model", "--model", "lstm", "--hidden", "1073741824"]);
        yield return new("model --dim 2147483647", Invalid, "dim", _ => ["model", "--model", "transformer", "--dim", "2147483647", "--heads", "1"]);

        // experiments
        yield return new("experiment run unknown", Invalid, "unknown experiment", w => ["experiment", "run", "ablation", "--out", w["e"]]);
        yield return new("experiment run --scale huge", Invalid, "--scale", w => ["experiment", "run", "lstm", "--scale", "huge", "--out", w["e"]]);
        string[] Submit(Workspace w, params string[] extra) => ["experiment", "submit", "lstm", "--scale", "quick", "--out", w["sub"], "--dry-run", .. extra];
        yield return new("experiment submit without --slurm", Invalid, "--slurm", w => Submit(w, "--array", "2"));
        yield return new("experiment submit without --array", Invalid, "--array", w => Submit(w, "--slurm"));
        yield return new("experiment submit --array 0", Invalid, "--array", w => Submit(w, "--slurm", "--array", "0"));
        yield return new("experiment submit --array beyond the runs", Invalid, "--array", w => Submit(w, "--slurm", "--array", "50"));
        yield return new("experiment submit unknown experiment", Invalid, "unknown experiment", w => ["experiment", "submit", "nope", "--slurm", "--array", "1", "--out", w["sub"], "--dry-run"]);
        yield return new("experiment submit --partition with a space", Invalid, "--partition", w => Submit(w, "--slurm", "--array", "1", "--partition", "a b"));
        yield return new("experiment submit --time with a quote", Invalid, "--time", w => Submit(w, "--slurm", "--array", "1", "--time", "1'00"));
        yield return new("experiment submit --backend tpu", Invalid, "--backend", w => Submit(w, "--slurm", "--array", "1", "--backend", "tpu"));
        yield return new("experiment submit --jobs 0", Invalid, "--jobs", w => Submit(w, "--slurm", "--array", "1", "--jobs", "0"));
        yield return new("experiment submit without a cpu scale", Invalid, "no cpu scale", w => ["experiment", "submit", "scaling", "--scale", "cpu", "--slurm", "--array", "1", "--out", w["sub"], "--dry-run"]);
        yield return new("experiment submit --out with a space", Invalid, "--out", w => ["experiment", "submit", "lstm", "--scale", "quick", "--slurm", "--array", "1", "--out", w["a b"], "--dry-run"]);
        yield return new("train --matmul-precision half", Invalid, "--matmul-precision", w => TinyLstm(w, "--matmul-precision", "half"));
        yield return new("eval --matmul-precision fp16", Invalid, "--matmul-precision", w => ["eval", "--checkpoint", w.Checkpoint(), "--count", "2", "--matmul-precision", "fp16"]);
        yield return new("grads double with tf32", Invalid, "--matmul-precision", w => ["grads", "--checkpoint", w.Checkpoint(), "--data", w.FlipFlopText(), "--precision", "double", "--matmul-precision", "tf32", "--out", w["g.safetensors"]]);
        yield return new("experiment run --matmul-precision bf16", Invalid, "--matmul-precision", w => ["experiment", "run", "lstm", "--scale", "quick", "--matmul-precision", "bf16", "--out", w["e"]]);
        yield return new("experiment run without a cpu scale", Invalid, "no cpu scale", w => ["experiment", "run", "scaling", "--scale", "cpu", "--out", w["e"]]);
        yield return new("experiment run --replicates 0", Invalid, "--replicates", w => ["experiment", "run", "lstm", "--replicates", "0", "--out", w["e"]]);
        yield return new("experiment run --shard 0/2", Invalid, "--shard", w => ["experiment", "run", "lstm", "--shard", "0/2", "--out", w["e"]]);
        yield return new("experiment run --shard 3/2", Invalid, "--shard", w => ["experiment", "run", "lstm", "--shard", "3/2", "--out", w["e"]]);
        yield return new("experiment run --shard x", Invalid, "--shard", w => ["experiment", "run", "lstm", "--shard", "x", "--out", w["e"]]);
        yield return new("experiment run --backend tpu", Invalid, "--backend", w => ["experiment", "run", "lstm", "--backend", "tpu", "--out", w["e"]]);
        yield return new("experiment run --jobs 0", Invalid, "--jobs", w => ["experiment", "run", "lstm", "--jobs", "0", "--out", w["e"]]);
        yield return new("experiment run --jobs many", Invalid, "--jobs", w => ["experiment", "run", "lstm", "--jobs", "many", "--out", w["e"]]);
        yield return new("experiment export without a format", Invalid, "--csv/--parquet", w => ["experiment", "export", "--db", w.Store(), "--out", w["csv"]]);

        // inspect
        string[] Probe(Workspace w, string checkpoint, params string[] extra) =>
            ["inspect", "temperature", "--checkpoint", checkpoint, "--count", "2", "--length", "16", "--out", w["t"], .. extra];
        yield return new("inspect temperature missing checkpoint", Invalid, "nope.safetensors", w => Probe(w, w["nope.safetensors"], "--values", "1"));
        yield return new("inspect temperature of an lstm", Invalid, "--checkpoint", w => Probe(w, w.Checkpoint(), "--values", "1,0.5"));
        yield return new("inspect temperature without --values", Invalid, "--values", w => Probe(w, w.Checkpoint(transformer: true)));
        yield return new("inspect temperature --values empty entry", Invalid, "--values", w => Probe(w, w.Checkpoint(transformer: true), "--values", "1,,0.5"));
        yield return new("inspect temperature --values twice", Invalid, "--values", w => Probe(w, w.Checkpoint(transformer: true), "--values", "1,0.5,1"));
        yield return new("inspect temperature --values 0", Invalid, "--values", w => Probe(w, w.Checkpoint(transformer: true), "--values", "1,0"));
        yield return new("inspect temperature --splits twice", Invalid, "--splits", w => Probe(w, w.Checkpoint(transformer: true), "--values", "1", "--splits", "sparse,sparse"));
        yield return new("inspect temperature --splits unknown", Invalid, "--splits", w => Probe(w, w.Checkpoint(transformer: true), "--values", "1", "--splits", "moderate"));
        yield return new("inspect temperature --count 0", Invalid, "--count", w => Probe(w, w.Checkpoint(transformer: true), "--values", "1", "--count", "0"));
        yield return new("inspect temperature --length odd", Invalid, "--length", w => Probe(w, w.Checkpoint(transformer: true), "--values", "1", "--length", "15"));
        yield return new("inspect temperature --temperature-layers beyond", Invalid, "--temperature-layers", w => Probe(w, w.Checkpoint(transformer: true), "--values", "1", "--temperature-layers", "3"));
        yield return new("inspect attention missing checkpoint", Invalid, "nope.safetensors", w => ["inspect", "attention", "--checkpoint", w["nope.safetensors"], "--sequence", "w1r1", "--out", w["i"]]);
        yield return new("inspect attention of an lstm", Invalid, "--checkpoint", w => ["inspect", "attention", "--checkpoint", w.Checkpoint(), "--sequence", "w1r1", "--out", w["i"]]);
        yield return new("inspect attention --from bad", Invalid, "--from", w => ["inspect", "attention", "--checkpoint", w.Checkpoint(transformer: true), "--from", "sparse", "--out", w["i"]]);
        yield return new("inspect attention --from unknown set", Invalid, "--from", w => ["inspect", "attention", "--checkpoint", w.Checkpoint(transformer: true), "--from", "moderate:3", "--out", w["i"]]);
        yield return new("inspect attention too long", Invalid, "position table", w => ["inspect", "attention", "--checkpoint", w.Checkpoint(transformer: true), "--from", "sparse:3", "--length", "64", "--out", w["i"]]);
        yield return new("inspect attention --heads 9", Invalid, "--heads", w => ["inspect", "attention", "--checkpoint", w.Checkpoint(transformer: true), "--from", "sparse:3", "--heads", "9", "--out", w["i"]]);
        yield return new("inspect attention invalid sequence", Invalid, "--sequence", w => ["inspect", "attention", "--checkpoint", w.Checkpoint(transformer: true), "--sequence", "w1r0", "--out", w["i"]]);

        // glitch mining
        yield return new("glitches mine --budget 0", Invalid, "--budget", w => ["glitches", "mine", "--checkpoint", w.Checkpoint(), "--budget", "0", "--out", w["g.txt"]]);
        yield return new("glitches mine --strategy genetic", Invalid, "--strategy", w => ["glitches", "mine", "--checkpoint", w.Checkpoint(), "--strategy", "genetic", "--out", w["g.txt"]]);
        yield return new("glitches mine --p-ignore 2", Invalid, "--p-ignore", w => ["glitches", "mine", "--checkpoint", w.Checkpoint(), "--p-ignore", "2", "--out", w["g.txt"]]);
        yield return new("glitches mine --length 7", Invalid, "--length", w => ["glitches", "mine", "--checkpoint", w.Checkpoint(), "--length", "7", "--out", w["g.txt"]]);
        yield return new("glitches mine missing checkpoint", Invalid, "none.safetensors", w => ["glitches", "mine", "--checkpoint", w["none.safetensors"], "--out", w["g.txt"]]);
        yield return new("glitches mine an automaton model", Invalid, "--checkpoint", w =>
        {
            using var device = new RawFlipFlop.Kernels.Devices.CpuDevice();
            var config = RawFlipFlop.Engine.Models.ModelConfig.Transformer(1, 8, 1, 16) with { VocabSize = 3 };
            using var m = RawFlipFlop.Engine.Models.ModelFactory.Create(config, new RawFlipFlop.Kernels.Cpu.CpuOps<float>(device));
            RawFlipFlop.Engine.Checkpoints.Checkpoint.Save(m, w["auto.safetensors"]);
            return ["glitches", "mine", "--checkpoint", w["auto.safetensors"], "--out", w["g.txt"]];
        });

        // kernels
        yield return new("kernels report --arch sm_12", Invalid, "--arch", _ => ["kernels", "report", "--arch", "sm_12"]);
        yield return new("kernels report --arch empty", Invalid, "--arch", _ => ["kernels", "report", "--arch", ","]);
        yield return new("kernels report --cuda-tools without --sass", Invalid, "--cuda-tools", w => ["kernels", "report", "--cuda-tools", w.Directory("tools")]);
        yield return new("kernels report --sass --cuda-tools missing", Invalid, "--cuda-tools", w => ["kernels", "report", "--sass", "--cuda-tools", w["absent"]]);
        yield return new("kernels report --sass --cuda-tools a file", Invalid, "--cuda-tools", w =>
            ["kernels", "report", "--sass", "--cuda-tools", w.Text("tools.txt", "not a directory")]);
        yield return new("kernels report --sass --cuda-tools without the tools", Invalid, "--cuda-tools", w =>
            ["kernels", "report", "--sass", "--cuda-tools", w.Directory("tools")]);
        yield return new("kernels report --sass --cuda-tools not executable", Invalid, "--cuda-tools", w =>
            ["kernels", "report", "--sass", "--cuda-tools", FakeTools(w, "#!/bin/sh\nexit 0\n", executable: false)]);
        yield return new("kernels report --sass failing tools", Failure, "nvdisasm", w =>
            ["kernels", "report", "--arch", "sm_80", "--sass", "--cuda-tools", FakeTools(w, "#!/bin/sh\necho 'fatal: no such thing' >&2\nexit 3\n")]);
        yield return new("kernels report --sass tools printing garbage", Failure, "nvdisasm", w =>
            ["kernels", "report", "--arch", "sm_80", "--sass", "--cuda-tools", FakeTools(w, "#!/bin/sh\nprintf 'garbage\\001\\n'\nexit 0\n")]);
    }

    /// <summary>A directory with a cuobjdump and an nvdisasm that are both the given script.</summary>
    static string FakeTools(Workspace w, string script, bool executable = true)
    {
        string dir = w.Directory("tools");
        foreach (var name in new[] { "cuobjdump", "nvdisasm" })
        {
            string path = w.Text(Path.Combine("tools", name), script);
            if (executable && !OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        return dir;
    }
}
