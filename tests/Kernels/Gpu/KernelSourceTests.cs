using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;

using RawFlipFlop.Tests.Kernels;
using RawFlipFlop.Tests.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Gpu;

/// <summary>
/// kernels.cu's conventions, checked on the text (no toolchain needed): every entry point in the kernel table once,
/// its block size in its __launch_bounds__, a shape comment above it, no #include.
/// </summary>
[Trait("Category", "Cpu")]
public class KernelSourceTests
{
    [Fact]
    public void Every_global_function_is_in_the_kernel_table_once_and_vice_versa()
    {
        var source = KernelSource.Default;
        Assert.Empty(source.TableProblems());
        Assert.Equal(source.GlobalFunctions.Order(), source.Table.Select(e => e.Name).Order());
        Assert.Contains("matmul_forward", source.GlobalFunctions);
    }

    [Fact]
    public void Block_sizes_come_from_launch_bounds()
    {
        var source = KernelSource.Default;
        Assert.Equal(256, source.BlockThreads("adamw_update"));     // a number
        Assert.Equal(256, source.BlockThreads("matmul_forward"));   // through #define GEMM_THREADS
        Assert.Equal(1024, source.BlockThreads("sum_forward"));     // through #define SUM_THREADS
        Assert.Equal(128, source.BlockThreads("attention_forward")); // through #define ATT_THREADS
        Assert.All(source.Table, e => Assert.InRange(e.BlockThreads, 1, 1024));

        var parsed = KernelSource.Parse("bounds.cu", """
            #define THREADS 64
            extern "C" __global__ void __launch_bounds__(THREADS, 2) a(float* x) {}
            extern "C" __global__ void __launch_bounds__( 96 )
            b(float* x) {}
            #define RFF_KERNEL_TABLE(X) X(a) X(b)
            """);
        Assert.Equal([("a", 64), ("b", 96)], parsed.Table.Select(e => (e.Name, e.BlockThreads)));
        var e = Assert.Throws<FormatException>(() => KernelSource.Parse("bad.cu", "extern \"C\" __global__ void __launch_bounds__(2 * N) k() {}"));
        Assert.Contains("kernel k: __launch_bounds__(2 * N) is neither a number nor an integer #define", e.Message);
    }

    [Fact]
    public void The_test_kernels_follow_the_same_conventions()
    {
        Assert.Empty(Toolchain.TestKernels.TableProblems());
        Assert.Equal(24, Toolchain.TestKernels.BlockThreads("indices"));
    }

    [Fact]
    public void Table_problems_are_found()
    {
        var source = KernelSource.Parse("bad.cu", """
            extern "C" __global__ void a(float* x) {}
            extern "C" __global__ void __launch_bounds__(128) b(float* x) {}
            extern "C" __global__ void __launch_bounds__(2048) d(float* x) {}
            // extern "C" __global__ void commented_out(float* x) {}
            /* extern "C" __global__ void also_commented(float* x) {} */
            #define RFF_KERNEL_TABLE(X) \
                X(a) \
                X(a) \
                X(c) \
                X(d)
            """);
        Assert.Equal(["a", "b", "d"], source.GlobalFunctions);
        var problems = source.TableProblems();
        Assert.Contains("a is listed 2 times in the kernel table", problems);
        Assert.Contains("extern \"C\" __global__ b is not in the kernel table", problems);
        Assert.Contains("the kernel table lists c, which is not an extern \"C\" __global__ function", problems);
        Assert.Contains("extern \"C\" __global__ a has no __launch_bounds__ (its block size)", problems);
        Assert.Contains("d: block size 2048 is outside 1..1024", problems);
        Assert.Equal(5, problems.Count);
    }

    [Fact]
    public void Every_kernel_has_a_shape_comment_and_kernels_cu_includes_nothing()
    {
        var text = KernelSource.Default.Text;
        Assert.DoesNotContain("#include", KernelSource.StripComments(text));
        var lines = text.Split('\n');
        foreach (var name in KernelSource.Default.GlobalFunctions)
        {
            int line = -1;
            for (int i = 0; i + 1 < lines.Length && line < 0; i++)
                if (lines[i].Contains("extern \"C\" __global__", StringComparison.Ordinal)
                    && (lines[i].Contains($" {name}(", StringComparison.Ordinal) || lines[i + 1].TrimStart().StartsWith(name + "(", StringComparison.Ordinal)))
                    line = i;
            Assert.True(line > 0, $"{name}: definition not found");
            Assert.True(lines[line - 1].TrimStart().StartsWith("//", StringComparison.Ordinal), $"{name}: no comment above the kernel");
            int first = line - 1;
            while (first > 0 && lines[first - 1].TrimStart().StartsWith("//", StringComparison.Ordinal)) first--;
            string comment = string.Join(' ', lines[first..line]);
            Assert.Matches(@"\w+ \([A-Za-z0-9*, ]+\)", comment);
        }
    }

    [Fact]
    public void Dynamic_shared_declarations_are_rewritten_for_the_emulator_keeping_lines()
    {
        var source = KernelSource.Parse("t.cu", "a\nextern __shared__ float buffer[];\nextern __shared__ __align__(16) int4 tiles[];\nb\n");
        var unit = EmulatorLibrary.TranslationUnit(source);
        Assert.Contains("float* buffer = (float*)rff_emu_dynamic_shared();", unit);
        Assert.Contains("int4* tiles = (int4*)rff_emu_dynamic_shared();", unit);
        Assert.Contains("#line 1 \"t.cu\"\na\nfloat* buffer", unit);
    }

    [Fact]
    public void Nvrtc_library_names_parse_and_sort_newest_first()
    {
        Assert.Equal(new Version(11, 2), NativeLibraries.ParseSoVersion("libnvrtc.so.11.2"));
        Assert.Equal(new Version(12, 4, 127), NativeLibraries.ParseSoVersion("libnvrtc.so.12.4.127"));
        Assert.Equal(new Version(13, 0), NativeLibraries.ParseSoVersion("libnvrtc.so.13"));
        Assert.Null(NativeLibraries.ParseSoVersion("libnvrtc-builtins.so.11.8"));
        Assert.Null(NativeLibraries.ParseSoVersion("libnvrtc.so"));
        var candidates = NativeLibraries.NvrtcCandidates();
        int i13 = candidates.ToList().IndexOf("libnvrtc.so.13"), i12 = candidates.ToList().IndexOf("libnvrtc.so.12"), i11 = candidates.ToList().IndexOf("libnvrtc.so.11.2");
        Assert.True(i13 < i12 && i12 < i11);
    }

    [Fact]
    public void Architecture_choice_prefers_a_cubin_and_falls_back_to_ptx()
    {
        int[] supported = [75, 80, 86, 89, 90];
        Assert.Equal("sm_90", KernelCompiler.ArchitectureFor(9, 0, supported));
        Assert.Equal("sm_80", KernelCompiler.ArchitectureFor(8, 0, supported));
        Assert.Equal("compute_90", KernelCompiler.ArchitectureFor(10, 0, supported));
        Assert.Equal("compute_80", KernelCompiler.ArchitectureFor(8, 2, supported));
    }
}

/// <summary>Parsing ptxas output and the occupancy arithmetic.</summary>
[Trait("Category", "Cpu")]
public class KernelReportParsingTests
{
    const string Log = """
        ptxas info    : 0 bytes gmem
        ptxas info    : Compiling entry function 'gemm' for 'sm_80'
        ptxas info    : Function properties for gemm
        ptxas         .     8 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads
        ptxas info    : Used 255 registers, 49152 bytes smem, 396 bytes cmem[0], 8 bytes cmem[2]
        ptxas info    : Function properties for _Z6helperf
        ptxas         .     32 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        ptxas info    : Compiling entry function 'tiny' for 'sm_80'
        ptxas info    : Function properties for tiny
        ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
        ptxas info    : Used 16 registers, used 1 barriers, 380 bytes cmem[0]
        """;

    [Fact]
    public void Ptxas_log_parses_into_entries()
    {
        var entries = PtxasReport.Parse(Log);
        Assert.Equal(2, entries.Count);
        Assert.Equal(new KernelResources("gemm", "sm_80", 255, 12, 16, 49152, 8, 396), entries[0]);
        Assert.Equal(new KernelResources("tiny", "sm_80", 16, 0, 0, 0, 0, 380), entries[1]);
    }

    [Theory]
    // registers, shared bytes, threads -> blocks per SM, limiter (sm_80: 64K registers, 2048 threads, 32 blocks, 164 KB)
    [InlineData("sm_80", 32, 0, 256, 8, "threads")]
    [InlineData("sm_80", 35, 0, 256, 6, "registers")]    // 35*32 -> 1280 per warp; 16384/1280 = 12 warps per quarter
    [InlineData("sm_80", 121, 16896, 256, 2, "registers")]
    [InlineData("sm_80", 16, 0, 32, 32, "blocks")]
    [InlineData("sm_80", 16, 48 * 1024, 128, 3, "shared memory")]  // 164 KB / (48 KB + 1 KB)
    [InlineData("sm_90", 16, 48 * 1024, 128, 4, "shared memory")]  // 228 KB / 49 KB
    [InlineData("sm_80", 255, 0, 1024, 0, "registers")]  // 255*1024 registers exceed a block's 64K
    public void Occupancy_follows_the_calculator(string arch, int registers, int shared, int threads, int blocks, string limiter)
    {
        var o = Occupancy.Compute(SmLimits.For(arch), registers, shared, threads);
        Assert.Equal(blocks, o.BlocksPerSm);
        Assert.Equal(limiter, o.Limiter);
        Assert.Equal(blocks * ((threads + 31) / 32) / 64.0, o.Fraction, 6);
    }
}
