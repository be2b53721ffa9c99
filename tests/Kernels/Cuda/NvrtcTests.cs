using System.Text.Json;
using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Gpu;

using RawFlipFlop.Tests.Kernels;
using RawFlipFlop.Tests.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Cuda;

/// <summary>Run-time compilation with NVRTC (no GPU needed).</summary>
[Trait("Category", "Nvrtc")]
public class NvrtcTests
{
    [Fact]
    public void Kernels_compile_for_sm80_and_sm90_without_spilling()
    {
        Toolchain.RequireNvrtc();
        var rows = KernelReport.Build(KernelSource.Default, ["sm_80", "sm_90"]);
        var names = KernelSource.Default.Table.Select(e => e.Name).ToList();
        foreach (var arch in new[] { "sm_80", "sm_90" })
            Assert.Equal(names, rows.Where(r => r.Architecture == arch).Select(r => r.Kernel));
        Assert.All(rows, r =>
        {
            Assert.False(r.Spills, $"{r.Kernel} spills on {r.Architecture}: {r.Resources.SpillStores} bytes stored, {r.Resources.SpillLoads} loaded");
            Assert.Equal(0, r.Resources.StackBytes);
            Assert.InRange(r.Resources.Registers, 1, 255);
            Assert.True(r.Occupancy.BlocksPerSm > 0, $"{r.Kernel} cannot launch on {r.Architecture}");
        });
        Assert.Equal(16896, rows.First(r => r.Kernel == "matmul_forward").Resources.SharedBytes);
    }

    [Fact]
    public void A_compile_error_surfaces_the_log()
    {
        Toolchain.RequireNvrtc();
        var source = KernelSource.Parse("broken.cu", "extern \"C\" __global__ void k(float* x)\n{\n    x[0] = undefined_name;\n}\n");
        var e = Assert.Throws<NvrtcException>(() => KernelCompiler.Compile(source, "sm_80", useCache: false));
        Assert.Contains("NVRTC_ERROR_COMPILATION", e.Message);
        Assert.Contains("broken.cu(3)", e.Message);
        Assert.Contains("undefined_name", e.Message);
        Assert.Equal(e.Log, e.Message[(e.Message.IndexOf('\n') + 1)..]);
    }

    [Fact]
    public void Bad_options_name_the_error()
    {
        Toolchain.RequireNvrtc();
        var e = Assert.Throws<NvrtcException>(() => Nvrtc.Compile("extern \"C\" __global__ void k() {}", "k.cu", ["--no-such-option"]));
        Assert.Contains("NVRTC_ERROR_INVALID_OPTION", e.Message);
    }

    [Fact]
    public void Compiled_modules_are_cached_by_source_options_and_version()
    {
        Toolchain.RequireNvrtc();
        using var dir = new TempDir();
        var source = KernelSource.Parse("small.cu", "extern \"C\" __global__ void k(float* x) { x[threadIdx.x] *= 2.0f; }\n");
        var first = KernelCompiler.Compile(source, "sm_80", cacheDirectory: dir.Path);
        Assert.False(first.FromCache);
        Assert.True(first.IsCubin);
        var second = KernelCompiler.Compile(source, "sm_80", cacheDirectory: dir.Path);
        Assert.True(second.FromCache);
        Assert.Equal(first.Image, second.Image);

        Assert.False(KernelCompiler.Compile(source, "sm_80", verbose: true, cacheDirectory: dir.Path).FromCache);  // other options
        Assert.False(KernelCompiler.Compile(source, "sm_90", cacheDirectory: dir.Path).FromCache);  // other architecture
        var changed = KernelSource.Parse("small.cu", source.Text + "// changed\n");
        Assert.False(KernelCompiler.Compile(changed, "sm_80", cacheDirectory: dir.Path).FromCache);  // other source
        var verbose = KernelCompiler.Compile(source, "sm_80", verbose: true, cacheDirectory: dir.Path);
        Assert.True(verbose.FromCache);
        Assert.Contains("Used", verbose.Log);  // the log is cached with the image

        // A damaged entry is ignored and replaced; no temporary files are left behind.
        var files = Directory.GetFiles(dir.Path);
        Assert.Equal(4, files.Length);
        Assert.DoesNotContain(files, f => f.EndsWith(".tmp", StringComparison.Ordinal));
        foreach (var f in files) File.WriteAllBytes(f, [1, 2, 3]);
        var again = KernelCompiler.Compile(source, "sm_80", cacheDirectory: dir.Path);
        Assert.False(again.FromCache);
        Assert.Equal(first.Image, again.Image);
        Assert.True(KernelCompiler.Compile(source, "sm_80", cacheDirectory: dir.Path).FromCache);
    }

    [Fact]
    public void Ptx_for_a_virtual_architecture()
    {
        Toolchain.RequireNvrtc();
        var module = KernelCompiler.Compile(KernelSource.Default, "compute_80", useCache: false);
        Assert.False(module.IsCubin);
        string ptx = System.Text.Encoding.ASCII.GetString(module.Image);
        Assert.Contains(".target sm_80", ptx);
        Assert.Contains(".entry matmul_forward", ptx);
        Assert.Contains(80, Nvrtc.SupportedArchitectures);
        Assert.Contains(90, Nvrtc.SupportedArchitectures);
    }

    [Fact]
    public void Kernels_report_command_prints_json_and_a_table()
    {
        Toolchain.RequireNvrtc();
        var json = CliRunner.Run("kernels", "report", "--arch", "sm_80,sm_90", "--json", "--check");
        Assert.True(json.ExitCode == 0, json.Err);
        using var doc = JsonDocument.Parse(json.Out);
        var rows = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(2 * KernelSource.Default.Table.Count, rows.Count);
        foreach (var row in rows)
        {
            foreach (var key in new[] { "kernel", "arch", "registers", "spill_stores", "spill_loads", "shared_bytes", "block_size", "occupancy" })
                Assert.True(row.TryGetProperty(key, out _), $"missing {key}");
            Assert.Equal(0, row.GetProperty("spill_stores").GetInt32());
            Assert.InRange(row.GetProperty("occupancy").GetDouble(), 0.01, 1.0);
        }
        Assert.Contains(rows, r => r.GetProperty("kernel").GetString() == "layernorm_forward" && r.GetProperty("arch").GetString() == "sm_90");

        var table = CliRunner.Run("kernels", "report", "--arch", "sm_90");
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("matmul_forward", table.Out);
        Assert.Contains("occupancy", table.Out);

        var bad = CliRunner.Run("kernels", "report", "--arch", "sm_12");
        Assert.Equal(2, bad.ExitCode);
        Assert.Contains("unknown architecture 'sm_12'", bad.Err);
    }
}
