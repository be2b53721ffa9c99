using System.Text.Json;
using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Devices;
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

    /// <summary>
    /// Issue 12: at the paper baseline's shapes (B*T = 8192 rows, d = 512) every tensor-core GEMM (forward, input and
    /// weight gradient of QKV, attention output, feed-forward in and out, and the 5-way head) launches at least two waves
    /// of blocks on the design target's 132 SMs, a wave being 132 times the blocks ptxas lets reside on one sm_90 SM;
    /// and the geometry's design occupancies (TC_BLOCKS_PER_SM, NARROW_BLOCKS_PER_SM) are at least ptxas's.
    /// </summary>
    [Fact]
    public void Every_baseline_gemm_launches_at_least_two_waves_on_132_sms()
    {
        Toolchain.RequireNvrtc();
        var geometry = TensorCoreGeometry.Default;
        var resident = KernelReport.Build(KernelSource.Default, ["sm_90"]).ToDictionary(r => r.Kernel, r => r.Occupancy.BlocksPerSm);
        const int n = 8192;
        var launches = new List<(string Kernel, Dim3 Grid)>();
        foreach (var (c, oc) in new[] { (512, 1536), (512, 512), (512, 2048), (2048, 512), (512, 5) })
            foreach (var precision in new[] { "3xtf32", "tf32" })
            {
                bool narrow = geometry.IsNarrow(oc);
                launches.Add(((narrow ? "matmul_narrow_forward_" : "matmul_forward_") + precision, geometry.ForwardGrid(n, c, oc)));
                launches.Add(("matmul_backward_input_" + precision, geometry.InputGradientGrid(n, c)));
                launches.Add(((narrow ? "matmul_narrow_backward_weight_" : "matmul_backward_weight_") + precision, geometry.WeightGradientGrid(n, c, oc)));
            }
        var failures = new List<string>();
        foreach (var (kernel, grid) in launches)
        {
            long blocks = (long)grid.X * grid.Y * grid.Z;
            int perSm = resident[kernel];
            int designed = kernel.Contains("_narrow_", StringComparison.Ordinal) ? geometry.NarrowBlocksPerSm : geometry.TileBlocksPerSm;
            double waves = blocks / (132.0 * perSm);
            if (waves < 2) failures.Add($"{kernel} grid ({grid.X},{grid.Y},{grid.Z}) = {blocks} blocks: {waves:0.00} waves at {perSm} blocks/SM");
            if (perSm > designed) failures.Add($"{kernel}: ptxas fits {perSm} blocks/SM, the geometry plans for {designed}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
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
