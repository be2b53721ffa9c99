using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;

namespace RawFlipFlop.Tests.Experiments.Cli.Hostile;

public sealed partial class HostileInputTests
{
    /// <summary>Bad data files and checkpoints, each through every command that reads them.</summary>
    static IEnumerable<HostileCase> FileCases()
    {
        var data = new (string Name, Func<Workspace, string> Make)[]
        {
            ("bad character", w => w.Text("bad.txt", "w1r1\nw1r2\n")),
            ("odd length", w => w.Text("bad.txt", "w1r1\nw1r1w\n")),
            ("lengths differ", w => w.Text("bad.txt", "w1r1\nw1r1i0r1\n")),
            ("empty file", w => w.Text("bad.txt", "")),
            ("a NUL byte", w => w.Bytes("bad.txt", [.. "w1r1\n"u8, 0, .. "1r1\n"u8])),
            ("invalid UTF-8", w => w.Bytes("bad.txt", [.. "w1r1\n"u8, 0xC3, 0x28, .. "r1\n"u8])),
            ("a wrong read", w => w.Text("bad.txt", "w1r1\nw1r0\n")),
            ("starts with a read", w => w.Text("bad.txt", "r1w1\nw1r1\n")),
            ("bit in an instruction slot", w => w.Text("bad.txt", "w1r1\n11r1\n")),
            ("empty line", w => w.Text("bad.txt", "w1r1\n\nw1r1\n")),
            ("parquet garbage", w => w.Bytes("bad.parquet", Encoding.ASCII.GetBytes("PAR1 this is not a parquet file at all PAR1"))),
            ("parquet truncated", w => { var b = File.ReadAllBytes(w.FlipFlopParquet("src.parquet")); File.Delete(w["src.parquet"]); return w.Bytes("bad.parquet", b[..(b.Length / 2)]); }),
            ("parquet footer length huge", w =>
            {
                var b = File.ReadAllBytes(w.FlipFlopParquet("src.parquet"));
                File.Delete(w["src.parquet"]);
                BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(b.Length - 8), 0x7fffffff);
                return w.Bytes("bad.parquet", b);
            }),
            ("parquet corrupted page", w =>
            {
                var b = File.ReadAllBytes(w.FlipFlopParquet("src.parquet"));
                File.Delete(w["src.parquet"]);
                for (int i = 4; i < Math.Min(40, b.Length - 12); i++) b[i] ^= 0x5A;
                return w.Bytes("bad.parquet", b);
            }),
            ("parquet without a text column", w =>
            {
                RawFlipFlop.Engine.Data.RecordFiles.Write(w["bad.parquet"], ["sequence"], [["w1r1", "w0r0"]]);
                return w["bad.parquet"];
            }),
        };
        foreach (var (what, make) in data)
        {
            string file = what.StartsWith("parquet", StringComparison.Ordinal) ? "bad.parquet" : "bad.txt";
            yield return new($"data check: {what}", Invalid, file, w => ["data", "check", make(w)]);
            yield return new($"data stats: {what}", Invalid, file, w => ["data", "stats", make(w)]);
            yield return new($"eval --split FILE: {what}", Invalid, file, w => ["eval", "--checkpoint", w.Checkpoint(), "--split", make(w)]);
            yield return new($"grads --data FILE: {what}", Invalid, file, w => ["grads", "--checkpoint", w.Checkpoint(), "--data", make(w), "--out", w["g.safetensors"]]);
        }

        var checkpoints = new (string Name, Func<Workspace, string> Make)[]
        {
            ("empty file", w => w.Bytes("bad.safetensors", [])),
            ("seven bytes", w => w.Bytes("bad.safetensors", [1, 2, 3, 4, 5, 6, 7])),
            ("garbage", w => w.Text("bad.safetensors", "not a safetensors file at all, just some words")),
            ("null header", w => w.SafeTensorsRaw("bad.safetensors", "null")),
            ("array header", w => w.SafeTensorsRaw("bad.safetensors", "[1, 2]")),
            ("header size beyond the file", w => w.SafeTensorsRaw("bad.safetensors", "{}", headerSize: 1UL << 40)),
            ("header size of 2^64-1", w => w.SafeTensorsRaw("bad.safetensors", "{}", headerSize: ulong.MaxValue)),
            ("header not JSON", w => w.SafeTensorsRaw("bad.safetensors", "{\"a\": ")),
            ("header bad UTF-8", w => w.SafeTensorsBytes("bad.safetensors", [(byte)'{', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)':', (byte)'1', (byte)'}'], [])),
            ("metadata a string", w => w.SafeTensorsRaw("bad.safetensors", "{\"__metadata__\": \"config\"}")),
            ("metadata value a number", w => w.SafeTensorsRaw("bad.safetensors", "{\"__metadata__\": {\"config\": 5}}")),
            ("truncated data", w => { var (h, d) = w.CheckpointParts(); return w.SafeTensorsRaw("bad.safetensors", h, d[..(d.Length - 8)]); }),
            ("trailing bytes", w => { var (h, d) = w.CheckpointParts(); return w.SafeTensorsRaw("bad.safetensors", h, [.. d, 1, 2, 3, 4]); }),
            ("duplicate tensor names", w =>
            {
                var (h, d) = w.CheckpointParts();
                int i = h.IndexOf("\"head.bias\"", StringComparison.Ordinal);
                return w.SafeTensorsRaw("bad.safetensors", h.Insert(1, h[i..(h.IndexOf('}', i) + 1)] + ","), d);
            }),
            ("overlapping offsets", w => Mutate(w, h => { h["head.bias"]!["data_offsets"] = new JsonArray(0, 20); })),
            ("offsets out of the data", w => Mutate(w, h => { h["head.bias"]!["data_offsets"] = new JsonArray(1_000_000, 1_000_020); })),
            ("negative offsets", w => Mutate(w, h => { h["head.bias"]!["data_offsets"] = new JsonArray(-20, 0); })),
            ("unsupported dtype", w => Mutate(w, h => { h["head.bias"]!["dtype"] = "BF16"; })),
            ("negative shape", w => Mutate(w, h => { h["head.bias"]!["shape"] = new JsonArray(-5); })),
            ("shape overflow", w => Mutate(w, h => { h["head.bias"]!["shape"] = new JsonArray(2147483647, 2147483647, 2147483647); })),
            ("shape not integers", w => Mutate(w, h => { h["head.bias"]!["shape"] = new JsonArray("five"); })),
            ("tensor entry not an object", w => Mutate(w, h => { h["head.bias"] = 7; })),
            ("missing data_offsets", w => Mutate(w, h => { h["head.bias"]!.AsObject().Remove("data_offsets"); })),
            ("no config", w => Mutate(w, h => { h["__metadata__"]!.AsObject().Remove("config"); })),
            ("config null", w => Config(w, "null")),
            ("config not JSON", w => Config(w, "{lstm")),
            ("config an array", w => Config(w, "[1]")),
            ("config model gru", w => Config(w, "{\"model\":\"gru\",\"vocab_size\":5}")),
            ("config layers 2^31-1", w => Config(w, "{\"model\":\"transformer\",\"vocab_size\":5,\"layers\":2147483647,\"dim\":8,\"heads\":2,\"max_length\":16}")),
            ("config max_length 2^31-1", w => Config(w, "{\"model\":\"transformer\",\"vocab_size\":5,\"layers\":1,\"dim\":8,\"heads\":2,\"max_length\":2147483647}")),
            ("config hidden 2^30", w => Config(w, "{\"model\":\"lstm\",\"vocab_size\":5,\"embed_dim\":4,\"hidden\":1073741824}")),
            ("config vocab_size 0", w => Config(w, "{\"model\":\"lstm\",\"vocab_size\":0,\"embed_dim\":4,\"hidden\":4}")),
            ("config of another model", w => Config(w, "{\"model\":\"lstm\",\"vocab_size\":5,\"embed_dim\":8,\"hidden\":4}")),
            ("config_version from the future", w => Config(w, "{\"model\":\"lstm\",\"vocab_size\":5,\"embed_dim\":4,\"hidden\":4,\"config_version\":3}")),
            ("config_version not a number", w => Config(w, "{\"model\":\"lstm\",\"vocab_size\":5,\"embed_dim\":4,\"hidden\":4,\"config_version\":\"2\"}")),
            ("config pos unknown", w => Config(w, "{\"model\":\"transformer\",\"vocab_size\":5,\"layers\":1,\"dim\":8,\"heads\":2,\"max_length\":16,\"pos\":\"rope-fuller\"}")),
            ("config pos a number", w => Config(w, "{\"model\":\"transformer\",\"vocab_size\":5,\"layers\":1,\"dim\":8,\"heads\":2,\"max_length\":16,\"pos\":42}")),
            ("config use_abs_pos_emb without alibi", w => Config(w, "{\"model\":\"transformer\",\"vocab_size\":5,\"layers\":1,\"dim\":8,\"heads\":2,\"max_length\":16,\"pos\":\"learned\",\"use_abs_pos_emb\":false}")),
            ("config rope with an odd rotary dimension", w => Config(w, "{\"model\":\"transformer\",\"vocab_size\":5,\"layers\":1,\"dim\":10,\"heads\":2,\"max_length\":16,\"pos\":\"rope\",\"config_version\":2}")),
            ("missing tensor", w => { var (h, d) = w.CheckpointParts(); var j = JsonNode.Parse(h)!.AsObject(); j.Remove("head.bias"); return w.SafeTensorsRaw("bad.safetensors", j.ToJsonString(), d[..(d.Length - 20)]); }),
        };
        foreach (var (what, make) in checkpoints)
        {
            yield return new($"eval --checkpoint: {what}", Invalid, "bad.safetensors", w => ["eval", "--checkpoint", make(w), "--count", "2", "--length", "16"]);
            yield return new($"grads --checkpoint: {what}", Invalid, "bad.safetensors", w => ["grads", "--checkpoint", make(w), "--data", w.FlipFlopText(), "--out", w["g.safetensors"]]);
            yield return new($"inspect attention --checkpoint: {what}", Invalid, "bad.safetensors", w => ["inspect", "attention", "--checkpoint", make(w), "--sequence", "w1r1", "--out", w["i"]]);
        }
    }

    /// <summary>A valid LSTM checkpoint whose header is changed by <paramref name="change"/>.</summary>
    static string Mutate(Workspace w, Action<JsonObject> change)
    {
        var (h, d) = w.CheckpointParts();
        var header = JsonNode.Parse(h)!.AsObject();
        change(header);
        return w.SafeTensorsRaw("bad.safetensors", header.ToJsonString(), d);
    }

    static string Config(Workspace w, string config) => Mutate(w, h => { h["__metadata__"]!["config"] = config; });
}
