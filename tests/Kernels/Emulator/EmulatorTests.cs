using System.Diagnostics;
using RawFlipFlop.Kernels.Devices;
using RawFlipFlop.Kernels.Emulator;
using RawFlipFlop.Kernels.Gpu;

using RawFlipFlop.Tests.Kernels;
using RawFlipFlop.Tests.Kernels.Gpu;

namespace RawFlipFlop.Tests.Kernels.Emulator;

/// <summary>The emulator's CUDA semantics and its checks, on the test-only kernels of test_kernels.cu.</summary>
[Trait("Category", "Emulator")]
public class EmulatorTests
{
    static EmulatedDevice Open(EmulatorOptions? options = null)
    {
        Toolchain.RequireCompiler();
        return new EmulatedDevice(EmulatorLibrary.Load(Toolchain.TestKernels), options ?? new EmulatorOptions());
    }

    static float[] Random(int n, int seed)
    {
        var random = new System.Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
    }

    static float[] NeighbourSum(float[] inp) =>
        inp.Select((v, i) => v + (i % 256 > 0 ? inp[i - 1] : 0f)).ToArray();

    [Fact]
    public void Library_registers_every_table_kernel_with_its_parameter_types()
    {
        using var device = Open();
        var kernels = device.Library.Kernels.ToDictionary(k => k.Name);
        Assert.Equal(Toolchain.TestKernels.Table.Select(e => e.Name), device.Library.Kernels.Select(k => k.Name));
        Assert.Equal("piulLfd", kernels["arg_types"].Signature);
        Assert.Equal("ppi", kernels["neighbour_sum"].Signature);
        Assert.True(File.Exists(device.Library.Path));
        Assert.Same(device.Library, EmulatorLibrary.Load(Toolchain.TestKernels));  // loaded once per process
    }

    [Fact]
    public void Kernels_library_registers_the_kernel_table()
    {
        Toolchain.RequireCompiler();
        var library = EmulatorLibrary.Default;
        Assert.Equal(KernelSource.Default.Table.Select(e => e.Name), library.Kernels.Select(k => k.Name));
        Assert.Equal("pppplffffffp", library.Kernel("adamw_update").Signature);
    }

    [Fact]
    public void A_missing_barrier_is_hidden_in_order_and_caught_when_shuffled()
    {
        using var device = Open();
        const int n = 1000;
        var inp = Random(n, 1);
        var expected = NeighbourSum(inp);
        var input = device.AllocateFrom<float>(inp);
        var output = device.Allocate<float>(n);

        // The correct kernel is right in every order.
        foreach (ulong? seed in new ulong?[] { null, 1, 2, 3 })
        {
            device.Options = new EmulatorOptions(seed);
            device.Launch("neighbour_sum", Dim3.Blocks(n, 256), 256, 0, output, input, n);
            Assert.Equal(expected, device.ToArray(output));
        }
        // In order (thread t-1 always runs before t) the broken kernel happens to be right ...
        device.Options = new EmulatorOptions();
        device.Launch("neighbour_sum_missing_barrier", Dim3.Blocks(n, 256), 256, 0, output, input, n);
        Assert.Equal(expected, device.ToArray(output));
        // ... and a shuffled order exposes the missing barrier, for every seed tried.
        for (ulong seed = 1; seed <= 3; seed++)
        {
            device.Options = new EmulatorOptions(seed);
            device.Launch("neighbour_sum_missing_barrier", Dim3.Blocks(n, 256), 256, 0, output, input, n);
            var actual = device.ToArray(output);
            int wrong = actual.Zip(expected).Count(p => p.First != p.Second);
            Assert.True(wrong > n / 10, $"seed {seed}: only {wrong} of {n} elements differ");
        }
    }

    [Fact]
    public void Shuffled_order_is_reproducible_for_a_seed()
    {
        using var device = Open(new EmulatorOptions(42, Threads: 1));
        const int n = 777;
        var input = device.AllocateFrom<float>(Random(n, 2));
        var output = device.Allocate<float>(n);
        // Static shared memory keeps what the previous launch left, so the first run only sets that state.
        var runs = new List<float[]>();
        for (int run = 0; run < 3; run++)
        {
            device.Launch("neighbour_sum_missing_barrier", Dim3.Blocks(n, 256), 256, 0, output, input, n);
            runs.Add(device.ToArray(output));
        }
        Assert.Equal(runs[1], runs[2]);
        device.Options = new EmulatorOptions(43, Threads: 1);
        device.Launch("neighbour_sum_missing_barrier", Dim3.Blocks(n, 256), 256, 0, output, input, n);
        Assert.NotEqual(runs[2], device.ToArray(output));
    }

    [Fact]
    public void Threads_that_exit_before_a_barrier_others_wait_at_raise_a_clear_error()
    {
        using var device = Open();
        var output = device.Allocate<float>(512);
        var e = Assert.Throws<EmulatorException>(() => device.Launch("early_exit_barrier", 2, 256, 0, output));
        Assert.Contains("kernel 'early_exit_barrier'", e.Message);
        Assert.Contains("224 threads wait at __syncthreads", e.Message);
        Assert.Contains("32 threads have exited", e.Message);
        // The emulator is usable after the error.
        var input = device.AllocateFrom<float>(Random(256, 3));
        device.Launch("neighbour_sum", 1, 256, 0, output, input, 256);
    }

    [Fact]
    public void Threads_at_different_barriers_raise_a_clear_error()
    {
        using var device = Open();
        var output = device.Allocate<float>(64);
        var e = Assert.Throws<EmulatorException>(() => device.Launch("divergent_barriers", 1, 64, 0, output));
        Assert.Contains("kernel 'divergent_barriers'", e.Message);
        Assert.Contains("divergent __syncthreads", e.Message);
    }

    [Fact]
    public void A_warp_operation_whose_lanes_exited_raises_a_clear_error()
    {
        using var device = Open();
        var output = device.Allocate<int>(64);
        var e = Assert.Throws<EmulatorException>(() => device.Launch("warp_op_after_exit", 1, 64, 0, output));
        Assert.Contains("kernel 'warp_op_after_exit'", e.Message);
        Assert.Contains("__shfl_xor_sync", e.Message);
        Assert.Contains("exited", e.Message);
    }

    [Fact]
    public void Trap_raises_an_error_naming_the_thread()
    {
        using var device = Open();
        var output = device.Allocate<int>(32);
        var e = Assert.Throws<EmulatorException>(() => device.Launch("trap_kernel", 1, 32, 0, output));
        Assert.Contains("kernel 'trap_kernel'", e.Message);
        Assert.Contains("thread (3,0,0)", e.Message);
        Assert.Contains("__trap()", e.Message);
    }

    [Fact]
    public void Reading_past_the_end_of_a_buffer_is_reported_with_the_argument()
    {
        using var device = Open();
        const int n = 1000;  // 4000 bytes: a multiple of 16, so the first byte past the end is a guard page
        var input = device.AllocateFrom<float>(Random(n, 4));
        var output = device.Allocate<float>(n);
        var e = Assert.Throws<EmulatorException>(() => device.Launch("read_past_end", Dim3.Blocks(n, 256), 256, 0, output, input, n));
        Assert.Contains("kernel 'read_past_end'", e.Message);
        Assert.Contains("out-of-bounds read", e.Message);
        Assert.Contains("0 bytes past the end of the buffer of argument 1 (4000 bytes)", e.Message);

        var w = Assert.Throws<EmulatorException>(() => device.Launch("write_past_end", Dim3.Blocks(n, 256), 256, 0, output, n));
        Assert.Contains("out-of-bounds write", w.Message);
        Assert.Contains("past the end of the buffer of argument 0", w.Message);

        // Still usable afterwards, and a correct launch of the same shape passes.
        device.Launch("neighbour_sum", Dim3.Blocks(n, 256), 256, 0, output, input, n);
    }

    [Fact]
    public void A_stack_overflow_is_reported()
    {
        using var device = Open();
        var output = device.Allocate<float>(1);
        var e = Assert.Throws<EmulatorException>(() => device.Launch("stack_hog", 1, 1, 0, output, 100));
        Assert.Contains("kernel 'stack_hog'", e.Message);
        Assert.Contains("stack overflow", e.Message);
        device.Options = new EmulatorOptions(StackKib: 512);
        device.Launch("stack_hog", 1, 1, 0, output, 100);
        Assert.Equal(1f, device.ToArray(output)[0]);
    }

    [Fact]
    public void Managed_null_dereferences_still_throw_after_kernel_faults()
    {
        // The emulator's fault handler only claims faults of emulated threads and passes the others on to .NET's.
        using var device = Open();
        var output = device.Allocate<float>(1000);
        Assert.Throws<EmulatorException>(() => device.Launch("write_past_end", Dim3.Blocks(1000, 256), 256, 0, output, 1000));
        object? nothing = null;
        Assert.Throws<NullReferenceException>(() => nothing!.GetHashCode());
        int[]? array = null;
        Assert.Throws<NullReferenceException>(() => array![3]);
    }

    [Fact]
    public void Pointers_outside_every_allocation_and_wrong_argument_types_are_rejected()
    {
        using var device = Open();
        var output = device.Allocate<float>(256);
        var stray = System.Runtime.InteropServices.GCHandle.Alloc(new float[256], System.Runtime.InteropServices.GCHandleType.Pinned);
        try
        {
            var pointer = KernelArg.Pointer(stray.AddrOfPinnedObject());
            var e = Assert.Throws<EmulatorException>(() => device.Launch("neighbour_sum", 1, 256, 0, output, pointer, 256));
            Assert.Contains("argument 1", e.Message);
            Assert.Contains("no allocation of this device", e.Message);
        }
        finally
        {
            stray.Free();
        }
        var types = Assert.Throws<EmulatorException>(() => device.Launch("neighbour_sum", 1, 256, 0, output, output, 256L));
        Assert.Contains("argument 2: the parameter is 'i', the argument 'l'", types.Message);
        var count = Assert.Throws<EmulatorException>(() => device.Launch("neighbour_sum", 1, 256, 0, output, output));
        Assert.Contains("takes 3 arguments, got 2", count.Message);
        var name = Assert.Throws<EmulatorException>(() => device.Launch("no_such_kernel", 1, 256, 0));
        Assert.Contains("no kernel named 'no_such_kernel'", name.Message);
        var block = Assert.Throws<EmulatorException>(() => device.Launch("neighbour_sum", 1, 2048, 0, output, output, 1));
        Assert.Contains("invalid block", block.Message);
    }

    [Fact]
    public void Warp_primitives_follow_CUDA_semantics()
    {
        using var device = Open(new EmulatorOptions(7));
        const int threads = 64;
        var output = device.Allocate<int>(threads * 9);
        device.Launch("warp_ops", 1, threads, 0, output);
        var o = device.ToArray(output);
        for (int t = 0; t < threads; t++)
        {
            int lane = t % 32, warpBase = t - lane;
            int[] row = o.AsSpan(t * 9, 9).ToArray();
            Assert.Equal((warpBase + (lane + 3) % 32) * 10, row[0]);
            Assert.Equal(lane + 5 < 32 ? t + 5 : t, row[1]);
            Assert.Equal(lane >= 2 ? t - 2 : t, row[2]);
            Assert.Equal(warpBase + (lane ^ 7), row[3]);
            Assert.Equal(unchecked((int)0x49249249u), row[4]);  // lanes 0, 3, 6, ..., 30
            Assert.Equal(1, row[5]);
            Assert.Equal(0, row[6]);
            Assert.Equal(warpBase + lane / 8 * 8, row[7]);
            Assert.Equal(lane % 16 < 15 ? t + 1 : t, row[8]);
        }
    }

    [Fact]
    public void Double_shuffles_shared_memory_and_atomics_work_across_blocks()
    {
        using var device = Open(new EmulatorOptions(Threads: 2));
        const int blocks = 9, threads = 256;
        var values = Enumerable.Range(0, blocks * threads).Select(i => Math.Sqrt(i + 1)).ToArray();
        var inp = device.AllocateFrom<double>(values);
        var sums = device.Allocate<double>(blocks);
        device.Launch("block_sum_double", blocks, threads, 0, sums, inp);
        var actual = device.ToArray(sums);
        for (int b = 0; b < blocks; b++)
            Assert.Equal(values.Skip(b * threads).Take(threads).Sum(), actual[b], 1e-9);

        var counter = device.Allocate<uint>(1);
        var fsum = device.Allocate<float>(1);
        var maxv = device.Allocate<int>(1);
        device.Launch("atomics", 50, 128, 0, counter, fsum, maxv);
        Assert.Equal(6400u, device.ToArray(counter)[0]);
        Assert.Equal(3200f, device.ToArray(fsum)[0]);
        Assert.Equal(6399, device.ToArray(maxv)[0]);
    }

    [Fact]
    public void Dynamic_shared_memory_is_per_block_and_guarded()
    {
        using var device = Open(new EmulatorOptions(3));
        const int blocks = 5, threads = 128;
        var values = Random(blocks * threads, 5);
        var inp = device.AllocateFrom<float>(values);
        var output = device.Allocate<float>(blocks * threads);
        device.Launch("reverse_dynamic_shared", blocks, threads, threads * sizeof(float), output, inp);
        var actual = device.ToArray(output);
        for (int i = 0; i < values.Length; i++)
            Assert.Equal(values[i / threads * threads + threads - 1 - i % threads], actual[i]);

        var e = Assert.Throws<EmulatorException>(() => device.Launch("dynamic_shared_overrun", 1, 64, 64 * sizeof(float), output));
        Assert.Contains("past its end", e.Message);
        Assert.Contains("dynamic shared memory", e.Message);
    }

    [Fact]
    public void Indices_cover_three_dimensional_grids_and_blocks()
    {
        using var device = Open(new EmulatorOptions(11));
        var grid = new Dim3(3, 2, 2);
        var block = new Dim3(4, 3, 2);
        int blocks = (int)grid.Count, threads = (int)block.Count;
        var output = device.Allocate<int>(blocks * threads * 4);
        device.Launch("indices", grid, block, 0, output);
        var o = device.ToArray(output);
        for (int b = 0; b < blocks; b++)
            for (int t = 0; t < threads; t++)
                Assert.Equal([b, t, threads, blocks], o.AsSpan((b * threads + t) * 4, 4).ToArray());
    }

    [Fact]
    public void Every_argument_type_round_trips()
    {
        using var device = Open();
        var output = device.Allocate<double>(6);
        device.Launch("arg_types", 1, 1, 0, output, -7, 4000000000u, -(1L << 40), (1UL << 63) + 2048, 1.5f, Math.PI);
        Assert.Equal([-7, 4000000000, -(double)(1L << 40), (double)((1UL << 63) + 2048), 1.5, Math.PI], device.ToArray(output));
    }

    [Theory]
    [InlineData(null)]
    [InlineData(7ul)]
    public void A_cooperative_launch_runs_every_block_at_once_and_its_grid_barrier_orders_them(ulong? shuffleSeed)
    {
        // One worker thread for ordinary launches: a cooperative launch still runs every block at once.
        using var device = Open(new EmulatorOptions(shuffleSeed, Threads: 1));
        const int blocks = 24, rounds = 5;
        var output = device.Allocate<float>(rounds * blocks);
        var slot = device.Allocate<float>(blocks);
        device.LaunchCooperative("grid_exchange", blocks, 64, 0, output, slot, rounds);
        var expected = new float[rounds * blocks];
        for (int r = 0; r < rounds; r++)
            for (int k = 0; k < blocks; k++)
                expected[r * blocks + k] = (k + 1) % blocks + r * blocks;
        Assert.Equal(expected, device.ToArray(output));
    }

    [Fact]
    public void A_grid_barrier_outside_a_cooperative_launch_is_an_error()
    {
        using var device = Open();
        var output = device.Allocate<float>(4);
        var slot = device.Allocate<float>(4);
        var e = Assert.Throws<EmulatorException>(() => device.Launch("grid_exchange", 4, 64, 0, output, slot, 1));
        Assert.Contains("kernel 'grid_exchange'", e.Message);
        Assert.Contains("not cooperative", e.Message);
    }

    [Fact]
    public void A_cooperative_grid_that_cannot_be_resident_is_refused()
    {
        using var device = Open();
        // An emulated H100: 132 SMs of 2048 threads, 32 blocks and 228 KiB of shared memory (1 KiB reserved per block).
        Assert.Equal(132 * 32, device.CooperativeBlocks("grid_exchange", 64, 0));
        Assert.Equal(132 * 8, device.CooperativeBlocks("grid_exchange", 256, 0));
        Assert.Equal(132 * 2, device.CooperativeBlocks("grid_exchange", 64, 100 * 1024));
        Assert.Equal(0, device.CooperativeBlocks("grid_exchange", 64, 228 * 1024));
        var output = device.Allocate<float>(132 * 32 + 1);
        var slot = device.Allocate<float>(132 * 32 + 1);
        var e = Assert.Throws<EmulatorException>(() => device.LaunchCooperative("grid_exchange", 132 * 32 + 1, 64, 0, output, slot, 1));
        Assert.Contains("kernel 'grid_exchange'", e.Message);
        Assert.Contains("CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE", e.Message);
        Assert.Contains("4225 blocks", e.Message);
        Assert.Contains("at most 4224", e.Message);
    }

    [Fact]
    public void A_block_that_exits_while_others_wait_at_the_grid_barrier_raises_a_clear_error()
    {
        using var device = Open();
        var output = device.Allocate<float>(8);
        var e = Assert.Throws<EmulatorException>(() => device.LaunchCooperative("grid_early_exit", 8, 64, 0, output));
        Assert.Contains("kernel 'grid_early_exit'", e.Message);
        Assert.Contains("7 blocks wait at the grid barrier", e.Message);
        Assert.Contains("1 blocks have exited", e.Message);
    }

    [Fact]
    public void A_fault_in_one_block_ends_a_cooperative_launch_whose_other_blocks_wait()
    {
        using var device = Open();
        const int n = 1000;
        var input = device.AllocateFrom<float>(Random(n, 5));
        var output = device.Allocate<float>(8);
        var e = Assert.Throws<EmulatorException>(() => device.LaunchCooperative("grid_fault", 8, 64, 0, output, input, n));
        Assert.Contains("kernel 'grid_fault' block (0,0,0)", e.Message);
        Assert.Contains("out-of-bounds read", e.Message);
        // Still usable afterwards.
        var slot = device.Allocate<float>(8);
        device.LaunchCooperative("grid_exchange", 8, 64, 0, output, slot, 1);
        Assert.Equal(Enumerable.Range(0, 8).Select(k => (float)((k + 1) % 8)), device.ToArray(output));
    }

    [Fact]
    public void Barriers_are_cheap_enough()
    {
        using var device = Open(new EmulatorOptions(Threads: 1));
        var output = device.Allocate<float>(256);
        const int iterations = 200;
        device.Launch("barrier_loop", 1, 256, 0, output, 1);
        var watch = Stopwatch.StartNew();
        device.Launch("barrier_loop", 1, 256, 0, output, iterations);
        double seconds = watch.Elapsed.TotalSeconds;
        Assert.Equal(Enumerable.Range(0, 256).Select(t => (float)((t + iterations) % 256)), device.ToArray(output));
        double switches = 2.0 * iterations * 256;
        TestContext.Current.TestOutputHelper?.WriteLine($"{switches / seconds / 1e6:0.0} M barrier arrivals/s ({seconds * 1e9 / switches:0} ns each)");
        Assert.True(seconds < 2, $"{switches} barrier arrivals took {seconds:0.00} s");
    }
}
