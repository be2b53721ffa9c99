using System.Diagnostics;
using System.Text.Json;
using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Cuda;

/// <summary>Reading nvdisasm listings and cuobjdump -res-usage, and finding the tools (no tools or GPU needed).</summary>
[Trait("Category", "Cpu")]
public sealed class SassParsingTests
{
    const string Listing = """
                .section        .text.first,"ax",@progbits
                .sectioninfo    @"SHI_REGISTERS=155"
        first:
        .text.first:
                /*0000*/                   IMAD.MOV.U32 R1, RZ, RZ, c[0x0][0x28] ;
                /*0010*/              @!PT LDS RZ, [RZ] ;
                /*0020*/                   LDGSTS.E.BYPASS.128 [R0], [R4.64], P6 ;
                /*0030*/                   HMMA.1688.F32.TF32 R8, R12, R16, R8 ;
                /*0040*/              @P0  HMMA.1688.F32.TF32 R8, R12, R18, R8 ;
                /*0050*/              @!UP1 BAR.SYNC.DEFER_BLOCKING 0x0 ;
                /*0060*/                   LDSM.16.M88.4 R20, [R3] ;
                /*0070*/                   EXIT ;
                /*0080*/                   BRA 0x80;
                /*0090*/                   NOP;
        .L_x_1:
        //--------------------- .text.second --------------------------
        .text.second:
                /*0000*/                   FFMA R0, R1, R2, R3 ;
                /*0010*/                   FFMA R0, R1, R2, R0 ;
                /*0020*/                   ISETP.GE.AND P0, PT, R0, c[0x0][0x170], PT ;
        """;

    [Fact]
    public void A_listing_is_counted_per_function_without_padding()
    {
        var functions = SassReport.ParseListing(Listing);
        Assert.Equal(["first", "second"], functions.Keys.Order());
        var first = new SassMix(functions["first"]);
        Assert.Equal(2, first.Group("HMMA"));      // predicated ones count
        Assert.Equal(1, first.Group("LDS"));       // LDSM; the never-executed @!PT LDS does not
        Assert.Equal(1, first.Group("LDG"));       // LDGSTS
        Assert.Equal(1, first.Group("BAR"));
        Assert.Equal(1, first.Group("INT"));       // IMAD.MOV
        Assert.Equal(2, first.Other);              // EXIT, BRA (the NOP is padding)
        Assert.Equal(8, first.Total);
        var second = new SassMix(functions["second"]);
        Assert.Equal(2, second.Group("FFMA"));
        Assert.Equal(1, second.Group("INT"));
    }

    [Fact]
    public void Resource_usage_is_read_per_function()
    {
        const string usage = """

            Resource usage:
             Common:
              GLOBAL:0
             Function matmul_forward_3xtf32:
              REG:155 STACK:0 SHARED:0 LOCAL:0 CONSTANT[0]:396 TEXTURE:0 SURFACE:0 SAMPLER:0
             Function spiller:
              REG:255 STACK:16 SHARED:128 LOCAL:24 CONSTANT[0]:380 TEXTURE:0 SURFACE:0 SAMPLER:0
            """;
        var r = SassReport.ParseResourceUsage(usage);
        Assert.Equal((155, 0, 0), r["matmul_forward_3xtf32"]);
        Assert.Equal((255, 16, 24), r["spiller"]);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]  // execute permissions are Unix file modes
    public void Tools_are_found_in_a_directory_only_when_both_are_there_and_executable()
    {
        using var dir = new TempDir();
        Assert.Null(CudaTools.InDirectory(Path.Combine(dir.Path, "absent"), out string problem));
        Assert.Contains("no such directory", problem);
        Assert.Null(CudaTools.InDirectory(dir.Path, out problem));
        Assert.Contains("no cuobjdump, no nvdisasm", problem);
        string cuobjdump = Path.Combine(dir.Path, "cuobjdump"), nvdisasm = Path.Combine(dir.Path, "nvdisasm");
        File.WriteAllText(cuobjdump, "#!/bin/sh\n");
        File.WriteAllText(nvdisasm, "#!/bin/sh\n");
        File.SetUnixFileMode(cuobjdump, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.SetUnixFileMode(nvdisasm, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Assert.Null(CudaTools.InDirectory(dir.Path, out problem));
        Assert.Contains("cuobjdump is not executable", problem);
        Assert.Null(CudaTools.InDirectory(cuobjdump, out problem));
        Assert.Contains("is a file, not a directory", problem);
        File.SetUnixFileMode(cuobjdump, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var tools = CudaTools.InDirectory(dir.Path, out _);
        Assert.NotNull(tools);
        Assert.Equal(nvdisasm, tools.Nvdisasm);

        // The environment variable wins over PATH; PATH is searched in order; without either, the reason says how to get them.
        using var empty = new TempDir();
        Assert.Equal(cuobjdump, CudaTools.Find(dir.Path, empty.Path, out _)!.Cuobjdump);
        Assert.Null(CudaTools.Find(empty.Path, dir.Path, out string reason));
        Assert.Contains(CudaTools.EnvironmentVariable, reason);
        Assert.Equal(cuobjdump, CudaTools.Find(null, $"{empty.Path}{Path.PathSeparator}{dir.Path}", out _)!.Cuobjdump);
        if (CudaTools.StandardDirectories.Any(d => CudaTools.InDirectory(d, out _) != null)) return;  // a CUDA install would be found
        Assert.Null(CudaTools.Find(null, empty.Path, out reason));
        Assert.Contains("cuobjdump and nvdisasm (CUDA binary utilities) not found", reason);
        Assert.Contains("apt-get download nvidia-cuda-toolkit && dpkg -x nvidia-cuda-toolkit_*.deb /tmp/cudatk", reason);
    }
}

/// <summary>
/// The SASS of kernels.cu with the real tools (found through RFF_CUDA_TOOLS or PATH; skipped with the reason when they
/// are absent, as in CI, which does not install the CUDA toolkit): every tensor-core kernel multiplies with HMMA on
/// sm_80 and sm_90 and uses no local memory; the report command's --sass output, and its message without the tools.
/// </summary>
[Trait("Category", "Nvrtc")]
public sealed class SassReportTests
{
    static CudaTools Tools()
    {
        Toolchain.RequireNvrtc();
        var tools = CudaTools.Find(out string reason);
        if (tools == null) Assert.Skip(reason);
        return tools;
    }

    [Fact]
    public void Every_tensor_core_kernel_shows_HMMA_in_its_sm80_and_sm90_SASS_and_no_local_memory()
    {
        var rows = KernelReport.Build(KernelSource.Default, ["sm_80", "sm_90"], sass: Tools());
        foreach (var row in rows)
        {
            var mix = row.Sass!;
            string what = $"{row.Kernel} on {row.Architecture}";
            Assert.Equal(0, mix.LocalBytes);
            Assert.Equal(0, mix.StackBytes);
            Assert.Equal(row.Resources.Registers, mix.Registers);  // the cubin records what ptxas reported
            if (TensorCoreGeometry.IsTensorCoreKernel(row.Kernel))
            {
                Assert.True(mix.Group("HMMA") > 0, $"{what}: no HMMA");
                if (row.Kernel.StartsWith("matmul_", StringComparison.Ordinal))  // attention's softmax (scale, exp) does use FFMA
                    Assert.True(mix.Group("FFMA") == 0, $"{what}: {mix.Group("FFMA")} FFMA: the products belong on the tensor cores");
                Assert.False(row.Spills, $"{what} spills");
            }
            if (row.Kernel is "matmul_forward" or "matmul_backward_input" or "matmul_backward_weight")  // the FP32 SIMT reference
            {
                Assert.Equal(0, mix.Group("HMMA"));
                Assert.Equal(1024, mix.Group("FFMA"));  // 8 x 8 outputs x 16 k per thread and K tile, unrolled
            }
        }
        // 3xTF32 issues three mmas per product tile, TF32 one: 4 k8 steps x 8 tiles per warp and 32-deep slice.
        foreach (var arch in new[] { "sm_80", "sm_90" })
        {
            int Hmma(string kernel) => rows.Single(r => r.Kernel == kernel && r.Architecture == arch).Sass!.Group("HMMA");
            Assert.Equal(96, Hmma("matmul_forward_3xtf32"));
            Assert.Equal(32, Hmma("matmul_forward_tf32"));
            Assert.Equal(73728, rows.Single(r => r.Kernel == "matmul_forward_3xtf32" && r.Architecture == arch).DynamicSharedBytes);
        }
    }

    [Fact]
    public void Kernels_report_sass_prints_the_mix_in_json_and_a_table()
    {
        var tools = Tools();
        var json = CliRunner.Run("kernels", "report", "--arch", "sm_80,sm_90", "--sass", "--cuda-tools", Path.GetDirectoryName(tools.Nvdisasm)!, "--json", "--check");
        Assert.True(json.ExitCode == 0, json.Err);
        using var doc = JsonDocument.Parse(json.Out);
        foreach (var row in doc.RootElement.EnumerateArray())
        {
            var sass = row.GetProperty("sass");
            foreach (var key in new[] { "hmma", "ffma", "lds", "ldg", "int", "bar", "other", "total", "registers", "local_bytes", "opcodes" })
                Assert.True(sass.TryGetProperty(key, out _), $"missing sass.{key}");
            Assert.True(sass.GetProperty("total").GetInt32() > 0);
        }
        var table = CliRunner.Run("kernels", "report", "--arch", "sm_90", "--sass");
        Assert.True(table.ExitCode == 0, table.Err);
        Assert.Contains("HMMA", table.Out);
        var line = table.Out.Split('\n').Single(l => l.StartsWith("matmul_forward_3xtf32 ", StringComparison.Ordinal));
        Assert.Contains(" 73728 ", line);
        Assert.Contains("static instruction counts", table.Err);
    }

    [Fact]
    public void Without_the_tools_kernels_report_sass_says_how_to_get_them()
    {
        Toolchain.RequireNvrtc();
        using var empty = new TempDir();
        var info = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "rawflipflop.dll"));
        foreach (var a in new[] { "kernels", "report", "--sass" }) info.ArgumentList.Add(a);
        info.Environment.Remove(CudaTools.EnvironmentVariable);
        info.Environment["PATH"] = empty.Path;  // dotnet is started by its full path below
        info.FileName = Environment.ProcessPath is { } self && Path.GetFileNameWithoutExtension(self) == "dotnet" ? self : FindDotnet();
        if (CudaTools.StandardDirectories.Any(d => CudaTools.InDirectory(d, out _) != null)) Assert.Skip("a CUDA install in a standard directory would be found");
        using var process = Process.Start(info)!;
        string stdout = process.StandardOutput.ReadToEnd(), stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 1, $"exit {process.ExitCode}\n{stderr}");
        Assert.Equal("", stdout);
        var last = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
        Assert.StartsWith("error: --sass: cuobjdump and nvdisasm (CUDA binary utilities) not found", last);
        Assert.Contains("apt-get download nvidia-cuda-toolkit", last);
        Assert.Contains("--cuda-tools", last);
    }

    static string FindDotnet()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            if (File.Exists(Path.Combine(dir, "dotnet"))) return Path.Combine(dir, "dotnet");
        var root = Environment.GetEnvironmentVariable("DOTNET_ROOT");
        return root != null ? Path.Combine(root, "dotnet") : "dotnet";
    }
}
