using System.Diagnostics;

namespace RawFlipFlop.Tests.Bench;

/// <summary>
/// bench/gpu-check.sh without a GPU and without publishing (which takes minutes): its usage errors, and its run phase
/// over a small prepared build whose RawFlipFlop.Tests and RawFlipFlop.Bench are shell stand-ins printing what the real
/// ones print (no GPU; a GPU with a failing test; a phase past its time limit), the report checked each time.
/// </summary>
[Trait("Category", "Cpu")]
public sealed class GpuCheckScriptTests
{
    static readonly string Script = Path.Combine(AppContext.BaseDirectory, "bench", "gpu-check.sh");

    const string NoGpu = "no usable GPU: no CUDA driver: libcuda.so.1 was not found (set RFF_CUDA_LIBRARY to its path)";

    // The real runner's lines without a GPU (xunit v3 in-process runner, -noColor).
    const string TestsWithoutGpu = $"""
        xUnit.net v3 In-Process Runner v4.0.2+0c7aa4991f (64-bit .NET 10.0.12)
          Discovering: RawFlipFlop.Tests
          Discovered:  RawFlipFlop.Tests
          Starting:    RawFlipFlop.Tests
            RawFlipFlop.Tests.Kernels.Cuda.CudaDeviceTests.Device_reports_itself_and_its_kernels [SKIP]
              {NoGpu}
            RawFlipFlop.Tests.Kernels.Gpu.GpuOpTests.LayerNorm_backward_matches_its_CPU_twin(n: 1, c: 1) [SKIP]
              {NoGpu}
          Finished:    RawFlipFlop.Tests (ID = '33a35e9c')
        === TEST EXECUTION SUMMARY ===
           RawFlipFlop.Tests  Total: 2, Errors: 0, Failed: 0, Skipped: 2, Not Run: 0, Time: 0.200s
        """;

    const string StepWithoutGpu = """
        gpu-step: NVRTC found: NVRTC 11.8 (/opt/app/libnvrtc.so.11.2)
        gpu-step: no GPU here (no CUDA driver: libcuda.so.1 was not found (set RFF_CUDA_LIBRARY to its path)); nothing measured
        """;

    sealed record Result(int ExitCode, string Out, string Err);

    static Result Bash(IDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Script);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment.Remove("OUT");
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(90)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"gpu-check.sh {string.Join(' ', args)} did not end in 90 s");
        }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>A prepared folder: gpu-check.tar.xz holding app/ with the two stand-ins (bash scripts) and a manifest.</summary>
    static string Prepare(TempDir dir, string testsScript, string benchScript)
    {
        string app = dir.File("stage/app"), prepared = dir.File("prepared");
        Directory.CreateDirectory(app);
        Directory.CreateDirectory(prepared);
        void Executable(string name, string body)
        {
            string path = Path.Combine(app, name);
            File.WriteAllText(path, "#!/usr/bin/env bash\n" + body + "\n");
            MakeExecutable(path);
        }
        Executable("RawFlipFlop.Tests", testsScript);
        Executable("RawFlipFlop.Bench", benchScript);
        File.WriteAllText(Path.Combine(app, "gpu-check-manifest.txt"), "commit: abc1234\nsdk: 10.0.401\n");
        var tar = Process.Start("tar", ["-C", dir.File("stage"), "-cJf", Path.Combine(prepared, "gpu-check.tar.xz"), "app"])!;
        tar.WaitForExit();
        Assert.Equal(0, tar.ExitCode);
        return prepared;
    }

    static void MakeExecutable(string path)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>A here-document that prints <paramref name="text"/>.</summary>
    static string Print(string text) => $"cat <<'TEXT'\n{text}\nTEXT";

    static Dictionary<string, string> Environment(TempDir dir, string nvidiaSmi = "/nonexistent/nvidia-smi") =>
        new() { ["TMPDIR"] = dir.Path, ["NVIDIA_SMI"] = nvidiaSmi };

    static void AssertUsageError(Result r, string problem)
    {
        Assert.True(r.ExitCode == 2, $"exit {r.ExitCode}: {r.Out}{r.Err}");
        Assert.Equal("", r.Out);
        var lines = r.Err.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("error: gpu-check.sh: ", lines[0]);
        Assert.Contains(problem, lines[0]);
    }

    [Fact]
    public void Bad_usage_is_one_error_line_and_exit_2_with_nothing_written()
    {
        using var dir = new TempDir();
        string empty = dir.File("empty"), file = dir.File("file");
        Directory.CreateDirectory(empty);
        File.WriteAllText(file, "x");
        var env = Environment(dir);
        AssertUsageError(Bash(env), "no phase given");
        AssertUsageError(Bash(env, "publish"), "unknown phase 'publish'");
        AssertUsageError(Bash(env, "run", dir.File("missing")), $"{dir.File("missing")}: no such folder");
        AssertUsageError(Bash(env, "run", empty, dir.File("r.md")), $"{empty}: holds no published build (gpu-check.tar.xz)");
        AssertUsageError(Bash(env, "prepare", file), $"{file}: exists and is not a folder");
        AssertUsageError(Bash(env, "prepare", empty, "extra"), "prepare takes at most one folder");
        AssertUsageError(Bash(env, "prepare", dir.File("no/such")), $"{dir.File("no")}: no such folder");
        AssertUsageError(Bash(env, "report", dir.File("nologs"), dir.File("r.md")), "no such logs folder");

        string prepared = Prepare(dir, "exit 0", "exit 0");
        AssertUsageError(Bash(env, "run", prepared, dir.File("no/such/r.md")), $"{dir.File("no/such")}: no such folder for the report");
        AssertUsageError(Bash(env, "run", prepared, empty), $"{empty}: is a folder");

        Assert.Empty(Directory.EnumerateFileSystemEntries(empty));
        Assert.Equal(["gpu-check.tar.xz"], Directory.EnumerateFileSystemEntries(prepared).Select(Path.GetFileName));
        Assert.False(File.Exists(dir.File("r.md")));
        Assert.Empty(Directory.EnumerateDirectories(dir.Path, "gpu-check-*"));
    }

    [Fact]
    public void A_build_that_does_not_unpack_is_an_error_naming_it()
    {
        using var dir = new TempDir();
        string prepared = dir.File("prepared");
        Directory.CreateDirectory(prepared);
        File.WriteAllText(Path.Combine(prepared, "gpu-check.tar.xz"), "not an archive");
        var r = Bash(Environment(dir), "run", prepared, dir.File("r.md"));
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}: {r.Out}{r.Err}");
        Assert.Contains("gpu-check.tar.xz does not unpack", r.Err);
        Assert.False(File.Exists(dir.File("r.md")));
        Assert.Empty(Directory.EnumerateDirectories(dir.Path, "gpu-check-run.*"));
    }

    [Fact]
    public void Without_a_GPU_the_run_exits_0_and_the_report_says_so()
    {
        using var dir = new TempDir();
        string prepared = Prepare(dir,
            $"[ \"$*\" = '-noColor -trait Category=Gpu' ] || {{ echo \"arguments: $*\"; exit 9; }}\n{Print(TestsWithoutGpu)}",
            $"[ \"$1\" = gpu-step ] || {{ echo 'op benchmarks started without a GPU'; exit 9; }}\n{Print(StepWithoutGpu)}");
        string output = dir.File("out");
        Directory.CreateDirectory(output);
        var env = Environment(dir);
        env["OUT"] = output;  // the device tool's folder: the report's default place
        var r = Bash(env, "run", prepared);
        Assert.True(r.ExitCode == 0, $"exit {r.ExitCode}: {r.Out}{r.Err}");

        string report = File.ReadAllText(Path.Combine(output, "gpu-report.md"));
        Assert.Contains("| GPU (nvidia-smi) | none: nvidia-smi not found |", report);
        Assert.Contains("| the engine's device | none: no GPU here (no CUDA driver: libcuda.so.1 was not found", report);
        Assert.Contains("| NVRTC found | NVRTC 11.8 (/opt/app/libnvrtc.so.11.2) |", report);
        Assert.Contains("| NVRTC used | none (no GPU opened) |", report);
        Assert.Contains("| build | commit abc1234; sdk 10.0.401 |", report);
        Assert.Contains("| 0 | 0 | 2 | 0 | 0 | 2 |", report);  // passed, failed, skipped, not run, errors, total
        Assert.Contains($"- 2: {NoGpu}", report);
        Assert.Contains("Nothing measured: no GPU. gpu-step said: `gpu-step: no GPU here", report);
        Assert.Contains("Not run: no GPU (`gpu-step: no GPU here", report);
        Assert.Contains("| ops | not run (no GPU) | - | - |", report);
        Assert.DoesNotContain("op benchmarks started", report);
        Assert.EndsWith(report, r.Out, StringComparison.Ordinal);  // and printed
        Assert.Equal(["gpu-check-logs.tar.gz", "gpu-report.md"], Directory.EnumerateFiles(output).Select(Path.GetFileName).Order());
        Assert.Empty(Directory.EnumerateDirectories(dir.Path, "gpu-check-run.*"));  // the unpacked build is gone
    }

    [Fact]
    public void On_a_GPU_the_report_has_the_device_every_figure_and_the_failing_tests_and_the_run_exits_1()
    {
        using var dir = new TempDir();
        const string tests = """
            xUnit.net v3 In-Process Runner v4.0.2+0c7aa4991f (64-bit .NET 10.0.12)
                RawFlipFlop.Tests.Kernels.Gpu.GpuOpTests.Gelu_matches_its_CPU_twin(n: 7) [FAIL]
                  Assert.Equal() Failure: Values differ
            === TEST EXECUTION SUMMARY ===
               RawFlipFlop.Tests  Total: 3, Errors: 0, Failed: 1, Skipped: 0, Not Run: 0, Time: 9.100s
            """;
        const string step = """
            gpu-step: NVRTC found: NVRTC 13.0 (/usr/local/cuda/lib64/libnvrtc.so.13), NVRTC 11.8 (/opt/app/libnvrtc.so.11.2)
            gpu-step: NVRTC used: NVRTC 13.0 (/usr/local/cuda/lib64/libnvrtc.so.13); kernels sm_90
            NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79 GiB, driver 13.0, kernels sm_90 by NVRTC 13.0); matmul precision 3xtf32
            lstm                   graph      3.20 ms  launches      3.40 ms  per queued step (losses read every 16; 20 steps, 133,637 parameters; 1 capture(s) of 27 operations, 22 graph launches, 1 direct)
                                   one at a time with per-kernel events: median      4.10 ms  min      4.00 ms; kernels 3.90 ms in 27 launches per step
                lstm_backward_persistent                     1 launches     2.000 ms/step  51.3%
            """;
        const string ops = """
            | Method                                  | Device | Mean     | GFLOP/s | GB/s |
            |---------------------------------------- |------- |---------:|--------:|-----:|
            | &#39;embedding_forward (8192 tokens x 512)&#39; | cuda   | 12.00 us |       - | 99.9 |
            """;
        string prepared = Prepare(dir, $"{Print(tests)}\nexit 1",
            $$"""
            if [ "$1" = gpu-step ]; then
            {{Print(step)}}
            else
              [ "$*" = "--filter RawFlipFlop.Bench.OpBenchmarks.*cuda* --inProcess --job short --iterationTime 100 --exporters github --artifacts ${11}" ] || { echo "arguments: $*"; exit 9; }
              mkdir -p "${11}/results"
              cat > "${11}/results/RawFlipFlop.Bench.OpBenchmarks-report-github.md" <<'TEXT'
            {{ops}}
            TEXT
            fi
            """);
        string smi = dir.File("nvidia-smi");
        File.WriteAllText(smi, """
            #!/usr/bin/env bash
            if [ "$1" = --query-gpu=name,driver_version,memory.total,compute_cap ]; then echo 'NVIDIA H100 80GB HBM3, 580.159.04, 81559 MiB, 9.0'
            else echo '| NVIDIA-SMI 580.159.04    Driver Version: 580.159.04    CUDA Version: 13.0 |'; fi
            """);
        MakeExecutable(smi);
        string report = dir.File("gpu.md");
        var r = Bash(Environment(dir, smi), "run", prepared, report);
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}: {r.Out}{r.Err}");

        string text = File.ReadAllText(report);
        Assert.Contains("| GPU (nvidia-smi) | NVIDIA H100 80GB HBM3, 81559 MiB, compute capability 9.0 |", text);
        Assert.Contains("| driver | 580.159.04 |", text);
        Assert.Contains("| CUDA (the driver's) | 13.0 |", text);
        Assert.Contains("| the engine's device | NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79 GiB, driver 13.0, kernels sm_90 by NVRTC 13.0); matmul precision 3xtf32 |", text);
        Assert.Contains("| NVRTC used | NVRTC 13.0 (/usr/local/cuda/lib64/libnvrtc.so.13) |", text);
        Assert.Contains("| kernel architecture | sm_90 |", text);
        Assert.Contains("| 2 | 1 | 0 | 0 | 0 | 3 |", text);
        Assert.Contains("- `RawFlipFlop.Tests.Kernels.Gpu.GpuOpTests.Gelu_matches_its_CPU_twin(n: 7)`", text);
        Assert.Contains("lstm                   graph      3.20 ms  launches      3.40 ms  per queued step", text);
        Assert.Contains("one at a time with per-kernel events: median      4.10 ms  min      4.00 ms", text);
        Assert.Contains("    lstm_backward_persistent                     1 launches     2.000 ms/step  51.3%", text);
        Assert.Contains("| 'embedding_forward (8192 tokens x 512)' | cuda   | 12.00 us |       - | 99.9 |", text);
        Assert.Contains("| tests | 1 |", text);
        Assert.Contains("| ops | 0 |", text);
    }

    [Fact]
    public void A_phase_past_its_time_limit_is_stopped_and_reported()
    {
        using var dir = new TempDir();
        string prepared = Prepare(dir, "echo started; sleep 60", Print(StepWithoutGpu));
        var env = Environment(dir);
        env["GPU_CHECK_TESTS_S"] = "1";
        var clock = Stopwatch.StartNew();
        var r = Bash(env, "run", prepared, dir.File("r.md"));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
        Assert.True(r.ExitCode == 1, $"exit {r.ExitCode}: {r.Out}{r.Err}");
        string text = File.ReadAllText(dir.File("r.md"));
        Assert.Contains("`RawFlipFlop.Tests -trait Category=Gpu`: **timed out** after", text);
        Assert.Contains("No totals: the runner ended before its summary.", text);
        Assert.Contains("started", text);
        Assert.Contains("Nothing measured: no GPU.", text);
    }
}
