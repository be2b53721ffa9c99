using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using RawFlipFlop.Engine.Checkpoints;

using RawFlipFlop.Tests.Kernels;
using RawFlipFlop.Tests.Kernels.Gpu;

namespace RawFlipFlop.Tests.Engine.Training;

/// <summary>
/// Fixed-seed runs through the command line whose loss curves, online and offline evaluations and checkpoint
/// tensors were recorded in tests/Fixtures/pipeline/bit-identity.json before the run pipeline was restructured;
/// every later version must reproduce them bit for bit. Set RFF_RECORD_PIPELINE_FIXTURE=1 to re-record (only
/// when a change of the numbers is intended, and say so in the commit).
/// </summary>
public sealed class BitIdentityFixtureTests
{
    static readonly string FixturePath = Fixtures.File(Path.Combine("pipeline", "bit-identity.json"));

    const string Tiny = "--layers 2 --dim 16 --heads 2 --length 32 --batch 4 --lr 3e-3 --warmup 2 --eval-every 5 --eval-count 20 --offline sparse:20,dense:20";

    /// <summary>d_h = 34: rope turns 32 dims of each head and passes 2 through.</summary>
    const string Wide = "--layers 1 --dim 68 --heads 2 --length 32 --batch 4 --lr 3e-3 --warmup 2 --eval-every 5 --eval-count 20 --offline sparse:20,dense:20";

    /// <summary>Case name and the command line; `OUT` is replaced by the output directory.</summary>
    public static TheoryData<string> CpuCases => new(CpuCommands.Keys);
    public static TheoryData<string> EmulatorCases => new(EmulatorCommands.Keys);

    // The cases named rope, sinusoidal, linear and alibi were recorded when those names meant what is now called
    // rope-full, sinusoidal-fixed, linear-add and alibi without the absolute embedding: they spell those out, and
    // reproduce their recordings bit for bit. The x-transformers encodings that took the names have cases of their own.
    static readonly Dictionary<string, string> CpuCommands = new()
    {
        ["cpu-learned-dropout-sharpen"] = $"train --model transformer {Tiny} --steps 20 --dropout-emb 0.1 --dropout-attn 0.1 --dropout-ff 0.1 --sharpen 0.01 --out OUT",
        ["cpu-rope-generative-mixture"] = $"train --model transformer {Tiny} --steps 15 --pos rope-full --mode generative --mixture 0.9,0.98,0.1 --seed 3 --data-seed 9 --out OUT",
        ["cpu-alibi-sharpen-first"] = $"train --model transformer {Tiny} --steps 12 --pos alibi --no-abs-pos --sharpen 0.1 --sharpen-layers 0 --weight-decay 0 --out OUT",
        ["cpu-sinusoidal"] = $"train --model transformer {Tiny} --steps 8 --pos sinusoidal-fixed --decay-steps 20 --out OUT",
        ["cpu-none"] = $"train --model transformer {Tiny} --steps 8 --pos none --p-ignore 0.5 --out OUT",
        ["cpu-linear"] = $"train --model transformer {Tiny} --steps 8 --pos linear-add --linear-divisor 40 --eval-batch 3 --out OUT",
        ["cpu-lstm"] = "train --model lstm --embed-dim 8 --hidden 12 --length 32 --batch 4 --steps 20 --lr 1e-2 --warmup 2 --eval-every 5 --eval-count 20 --offline sparse:20,dense:20,indist:10 --out OUT",
        ["experiment-mechanistic-quick"] = "experiment run mechanistic --scale quick --out OUT",
        ["experiment-lstm-quick"] = "experiment run lstm --scale quick --replicates 1 --out OUT",
        // x-transformers 1.16.8's encodings and Appendix C.3's linear coordinate (recorded when they became the defaults)
        ["cpu-xt-rope-partial"] = $"train --model transformer {Wide} --steps 8 --pos rope --seed 4 --out OUT",
        ["cpu-xt-sinusoidal"] = $"train --model transformer {Tiny} --steps 8 --pos sinusoidal --decay-steps 20 --out OUT",
        ["cpu-xt-alibi"] = $"train --model transformer {Tiny} --steps 8 --pos alibi --sharpen 0.1 --out OUT",
        ["cpu-c3-linear"] = $"train --model transformer {Tiny} --steps 8 --pos linear --linear-divisor 40 --out OUT",
    };

    static readonly Dictionary<string, string> EmulatorCommands = new()
    {
        ["emulator-learned-dropout-sharpen"] = $"train --model transformer {Tiny} --steps 6 --dropout-emb 0.1 --dropout-attn 0.1 --dropout-ff 0.1 --sharpen 0.01 --backend emulator --out OUT",
        ["emulator-rope-alibi"] = $"train --model transformer {Tiny} --steps 5 --pos alibi --no-abs-pos --backend emulator --out OUT",
        ["emulator-lstm"] = "train --model lstm --embed-dim 8 --hidden 12 --length 32 --batch 4 --steps 6 --lr 1e-2 --warmup 2 --eval-every 3 --eval-count 20 --offline sparse:20 --backend emulator --out OUT",
        ["emulator-xt-rope-partial"] = $"train --model transformer {Wide} --steps 4 --pos rope --backend emulator --out OUT",
        ["emulator-xt-sinusoidal"] = $"train --model transformer {Tiny} --steps 5 --pos sinusoidal --backend emulator --out OUT",
        ["emulator-c3-linear"] = $"train --model transformer {Tiny} --steps 5 --pos linear --backend emulator --out OUT",
    };

    [Theory]
    [Trait("Category", "Cpu")]
    [MemberData(nameof(CpuCases))]
    public void Cpu_runs_reproduce_the_recorded_fixture(string name) => Check(name, CpuCommands[name]);

    [Theory]
    [Trait("Category", "Emulator")]
    [MemberData(nameof(EmulatorCases))]
    public void Emulator_runs_reproduce_the_recorded_fixture(string name)
    {
        Toolchain.RequireCompiler();
        Check(name, EmulatorCommands[name]);
    }

    static readonly object s_recordLock = new();

    static void Check(string name, string command)
    {
        using var dir = new TempDir();
        string outDir = dir.File("out");
        var args = command.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(a => a == "OUT" ? outDir : a).ToArray();
        var result = CliRunner.Run(args);
        Assert.True(result.ExitCode == 0, $"{command} exited {result.ExitCode}: {result.Err}");
        var actual = Fingerprint(outDir);
        if (Environment.GetEnvironmentVariable("RFF_RECORD_PIPELINE_FIXTURE") == "1")
        {
            lock (s_recordLock) Record(name, actual);
            return;
        }
        var recorded = JsonNode.Parse(File.ReadAllText(FixturePath))![name]
            ?? throw new InvalidOperationException($"{FixturePath} has no case {name}");
        foreach (var (run, fingerprint) in recorded.AsObject())
        {
            Assert.True(actual.ContainsKey(run), $"{name}: the run {run} was not produced (produced: {string.Join(", ", actual.Select(a => a.Key))})");
            var expected = fingerprint!.AsObject();
            var got = actual[run]!.AsObject();
            foreach (var (key, value) in expected)
                Assert.True(JsonNode.DeepEquals(value, got[key]), $"{name} {run}: {key} differs from the recording:\nexpected {value?.ToJsonString()}\nactual   {got[key]?.ToJsonString()}");
        }
        // runs added to an experiment since the recording (new settings) are not in it; every recorded run must be there
    }

    static void Record(string name, JsonObject fingerprint)
    {
        string source = Path.Combine(Path.GetDirectoryName(typeof(BitIdentityFixtureTests).Assembly.Location)!, "..", "..", "..", "Fixtures", "pipeline", "bit-identity.json");
        source = Path.GetFullPath(source);
        var all = File.Exists(source) ? JsonNode.Parse(File.ReadAllText(source))!.AsObject() : new JsonObject();
        all[name] = fingerprint;
        var sorted = new JsonObject();
        foreach (var key in all.Select(p => p.Key).Order(StringComparer.Ordinal).ToList()) sorted[key] = all[key]!.DeepClone();
        Directory.CreateDirectory(Path.GetDirectoryName(source)!);
        File.WriteAllText(source, sorted.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    /// <summary>Per run directory (every directory holding a summary.json, relative to the output): the numbers that must not change.</summary>
    static JsonObject Fingerprint(string outDir)
    {
        var runs = new JsonObject();
        foreach (var summaryPath in Directory.EnumerateFiles(outDir, "summary.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (summaryPath.Split(Path.DirectorySeparatorChar).Any(part => part.StartsWith('.'))) continue; // published files' own store
            string runDir = Path.GetDirectoryName(summaryPath)!;
            string key = Path.GetRelativePath(outDir, runDir).Replace('\\', '/');
            using var summary = JsonDocument.Parse(File.ReadAllText(summaryPath));
            var root = summary.RootElement;
            var entry = new JsonObject
            {
                ["losses"] = Bits(root.GetProperty("losses")),
                ["sharpen_losses"] = root.TryGetProperty("sharpen_losses", out var sl) && sl.ValueKind == JsonValueKind.Array ? Bits(sl) : null,
                ["online"] = new JsonArray(root.GetProperty("online").EnumerateArray().Select(o => (JsonNode)new JsonArray(
                    o.GetProperty("step").GetInt64(), o.GetProperty("reads").GetInt64(), o.GetProperty("errors").GetInt64(),
                    o.GetProperty("sequences_with_errors").GetInt64())).ToArray()),
                ["eval"] = new JsonArray(root.GetProperty("eval").EnumerateArray().Select(e => (JsonNode)new JsonArray(
                    e.GetProperty("split").GetString(), e.GetProperty("iterate").GetString(), e.GetProperty("step").GetInt64(),
                    e.GetProperty("sequences").GetInt64(), e.GetProperty("reads").GetInt64(), e.GetProperty("errors").GetInt64(),
                    e.GetProperty("sequences_with_errors").GetInt64())).ToArray()),
            };
            // attention.safetensors is derived from model.safetensors (and changed format since the recording): not hashed
            foreach (var file in new[] { "model.safetensors", "best.safetensors" })
            {
                string path = Path.Combine(runDir, file);
                if (File.Exists(path)) entry[file] = TensorHash(path);
            }
            runs[key] = entry;
        }
        return runs;
    }

    static JsonArray Bits(JsonElement values) =>
        new(values.EnumerateArray().Select(v => (JsonNode)BitConverter.DoubleToInt64Bits(v.GetDouble()).ToString("x16")).ToArray());

    /// <summary>SHA-256 of the tensors (name, dtype, shape, bytes) in name order; the metadata is not hashed.</summary>
    static string TensorHash(string path)
    {
        var contents = SafeTensors.Read(path);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var t in contents.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            sha.AppendData(Encoding.UTF8.GetBytes($"{t.Name}|{t.Type}|{t.ShapeText}|"));
            sha.AppendData(t.Data);
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
