using System.Text.Json;
using RawFlipFlop.Engine.Checkpoints;

using RawFlipFlop.Tests.Kernels;
using RawFlipFlop.Tests.Kernels.Gpu;

using RawFlipFlop.Tests.Kernels.Cpu;

namespace RawFlipFlop.Tests.Experiments.Cli;

/// <summary>`train`, `eval` and `grads` with --backend emulator reproduce the CPU engine.</summary>
[Trait("Category", "Emulator")]
public sealed class CliBackendTests
{
    static string[] TrainArgs(string backend, string dir) =>
    [
        "train", "--model", "transformer", "--layers", "1", "--dim", "16", "--heads", "2", "--pos", "rope", "--length", "16", "--steps", "8",
        "--batch", "4", "--lr", "1e-2", "--warmup", "2", "--dropout-attn", "0.1", "--sharpen", "0.05", "--eval-every", "4", "--eval-count", "20",
        "--offline", "sparse:40", "--backend", backend, "--out", dir, "--quiet",
    ];

    /// <summary>`train` on a kernel device says how its steps ran; --graphs off and --loss-read-every change that and not the losses.</summary>
    [Fact]
    public void Train_on_the_emulator_says_how_its_steps_ran()
    {
        Toolchain.RequireCompiler();
        using var graphs = new TempDir();
        using var direct = new TempDir();
        string[] Args(string dir, params string[] extra) =>
            ["train", "--model", "transformer", "--layers", "1", "--dim", "8", "--heads", "2", "--length", "16", "--batch", "2", "--steps", "7",
             "--eval-every", "0", "--offline", "none", "--backend", "emulator", "--out", dir, .. extra];
        var a = CliRunner.Run(Args(graphs.Path, "--loss-read-every", "3"));
        var b = CliRunner.Run(Args(direct.Path, "--graphs", "off"));
        Assert.True(a.ExitCode == 0, a.Err);
        Assert.True(b.ExitCode == 0, b.Err);
        Assert.Contains("steps as CUDA graph launches: 6 launches of 1 capture(s), 1 step(s) direct", a.Err);
        Assert.Contains("losses read every 3 steps", a.Err);
        Assert.Contains("steps as separate launches (device graphs are off); losses read every 16 steps", b.Err);
        Assert.Equal(File.ReadAllText(graphs.File("summary.json")).Split("\"losses\"")[1].Split(']')[0],
            File.ReadAllText(direct.File("summary.json")).Split("\"losses\"")[1].Split(']')[0]);
    }

    [Fact]
    public void Train_eval_and_grads_on_the_emulator_match_the_cpu()
    {
        Toolchain.RequireCompiler();
        using var cpuDir = new TempDir();
        using var emuDir = new TempDir();
        var cpu = CliRunner.Run(TrainArgs("cpu", cpuDir.Path));
        var emu = CliRunner.Run(TrainArgs("emulator", emuDir.Path));
        Assert.True(cpu.ExitCode == 0, cpu.Err);
        Assert.True(emu.ExitCode == 0, emu.Err);
        using var a = JsonDocument.Parse(File.ReadAllText(cpuDir.File("summary.json")));
        using var b = JsonDocument.Parse(File.ReadAllText(emuDir.File("summary.json")));
        Assert.Equal("emulator", b.RootElement.GetProperty("backend").GetString());
        var la = a.RootElement.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()).ToList();
        var lb = b.RootElement.GetProperty("losses").EnumerateArray().Select(e => e.GetDouble()).ToList();
        for (int i = 0; i < la.Count; i++) Assert.Equal(la[i], lb[i], tolerance: 1e-5 * la[i]);

        // the emulator's checkpoint evaluates on the CPU, and the CPU's on the emulator, with the same counts
        var e1 = CliRunner.Run("eval", "--checkpoint", emuDir.File("model.safetensors"), "--split", "dense", "--count", "30", "--length", "16", "--json");
        var e2 = CliRunner.Run("eval", "--checkpoint", emuDir.File("model.safetensors"), "--split", "dense", "--count", "30", "--length", "16", "--json", "--backend", "emulator");
        Assert.True(e1.ExitCode == 0 && e2.ExitCode == 0, e1.Err + e2.Err);
        using var j1 = JsonDocument.Parse(e1.Out);
        using var j2 = JsonDocument.Parse(e2.Out);
        Assert.Equal(j1.RootElement.GetProperty("reads").GetInt64(), j2.RootElement.GetProperty("reads").GetInt64());
        Assert.Equal(j1.RootElement.GetProperty("errors").GetInt64(), j2.RootElement.GetProperty("errors").GetInt64());

        File.WriteAllText(cpuDir.File("batch.txt"), "w1i0r1i1w0r0r0i1\nw0r0w1i1i0r1i0r1\n");
        var g1 = CliRunner.Run("grads", "--checkpoint", cpuDir.File("model.safetensors"), "--data", cpuDir.File("batch.txt"), "--out", cpuDir.File("g1.safetensors"));
        var g2 = CliRunner.Run("grads", "--checkpoint", cpuDir.File("model.safetensors"), "--data", cpuDir.File("batch.txt"), "--out", cpuDir.File("g2.safetensors"), "--backend", "emulator");
        Assert.True(g1.ExitCode == 0 && g2.ExitCode == 0, g1.Err + g2.Err);
        var t1 = SafeTensors.Read(cpuDir.File("g1.safetensors"));
        var t2 = SafeTensors.Read(cpuDir.File("g2.safetensors"));
        foreach (var t in t1.Tensors)
        {
            var x = t.ToDoubles();
            var y = t2.Find(t.Name)!.ToDoubles();
            double scale = x.Max(Math.Abs);
            GradCheck.AssertClose(x, y, 1e-4 * scale + 1e-9, 1e-3, $"grads {t.Name} emulator vs cpu");
        }
        var bad = CliRunner.Run("grads", "--checkpoint", cpuDir.File("model.safetensors"), "--data", cpuDir.File("batch.txt"), "--out", cpuDir.File("g3.safetensors"), "--backend", "emulator", "--precision", "double");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("CPU engine only", bad.Err);
    }
}

/// <summary>`--backend cuda` where CUDA is unusable (in the GPU collection: on a GPU machine it opens the GPU).</summary>
[Trait("Category", "Cpu")]
[Collection(GpuCollection.Name)]
public sealed class CliCudaBackendTests
{
    [Fact]
    public void Explicit_cuda_without_a_gpu_is_a_clear_error()
    {
        if (RawFlipFlop.Kernels.Cuda.CudaDevice.TryCreate(out var device, out _)) { device!.Dispose(); Assert.Skip("a GPU is present"); }
        using var dir = new TempDir();
        var r = CliRunner.Run("train", "--model", "lstm", "--steps", "1", "--backend", "cuda", "--out", dir.Path);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("CUDA is not usable", r.Err);
    }
}
