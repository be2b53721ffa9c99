// Test-only kernels for the emulator's own tests: correct kernels that exercise its CUDA semantics and
// deliberately broken ones it must catch. Same conventions as kernels.cu (no #include, every kernel's block size in
// its __launch_bounds__, a kernel table of names).

#define FULL_MASK 0xffffffffu

// out (n) = inp[i] + inp[i-1] within each block of 256 (the first thread of a block adds 0), through shared memory.
extern "C" __global__ void __launch_bounds__(256) neighbour_sum(float* out, const float* inp, int n)
{
    __shared__ float tile[256];
    const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    tile[t] = i < n ? inp[i] : 0.0f;
    __syncthreads();
    if (i < n) out[i] = tile[t] + (t > 0 ? tile[t - 1] : 0.0f);
}

// BROKEN: neighbour_sum without its barrier. Threads run in order 0, 1, ... happen to give the right answer.
extern "C" __global__ void __launch_bounds__(256) neighbour_sum_missing_barrier(float* out, const float* inp, int n)
{
    __shared__ float tile[256];
    const int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
    tile[t] = i < n ? inp[i] : 0.0f;
    if (i < n) out[i] = tile[t] + (t > 0 ? tile[t - 1] : 0.0f);
}

// BROKEN: the first warp leaves while the others wait at a barrier. out (blocks*threads)
extern "C" __global__ void __launch_bounds__(256) early_exit_barrier(float* out)
{
    if (threadIdx.x < 32) return;
    __syncthreads();
    out[blockIdx.x * blockDim.x + threadIdx.x] = 1.0f;
}

// BROKEN: odd and even threads wait at different barriers. out (threads)
extern "C" __global__ void __launch_bounds__(64) divergent_barriers(float* out)
{
    if (threadIdx.x % 2)
    {
        __syncthreads();
        out[threadIdx.x] = 1.0f;
    }
    else
    {
        __syncthreads();
        out[threadIdx.x] = 2.0f;
    }
}

// BROKEN: reads one element past the end of inp. out (n), inp (n)
extern "C" __global__ void __launch_bounds__(256) read_past_end(float* out, const float* inp, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = inp[i + 1];
}

// BROKEN: writes one element past the end of out. out (n)
extern "C" __global__ void __launch_bounds__(256) write_past_end(float* out, int n)
{
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) out[i] = 1.0f;
}

// BROKEN: lane 0 of every warp exits while the other lanes shuffle with the full mask. out (threads)
extern "C" __global__ void __launch_bounds__(64) warp_op_after_exit(int* out)
{
    if (threadIdx.x % 32 == 0) return;
    out[threadIdx.x] = __shfl_xor_sync(FULL_MASK, (int)threadIdx.x, 1);
}

// BROKEN: thread 3 traps.
extern "C" __global__ void __launch_bounds__(32) trap_kernel(int* out)
{
    if (threadIdx.x == 3) __trap();
    out[threadIdx.x] = 1;
}

// out (threads, 9): warp primitives, per thread t (lane = t % 32).
extern "C" __global__ void __launch_bounds__(64) warp_ops(int* out)
{
    const int t = blockIdx.x * blockDim.x + threadIdx.x, lane = threadIdx.x % 32;
    int* o = out + t * 9;
    o[0] = __shfl_sync(FULL_MASK, t * 10, (lane + 3) % 32);
    o[1] = __shfl_down_sync(FULL_MASK, t, 5);
    o[2] = __shfl_up_sync(FULL_MASK, t, 2);
    o[3] = __shfl_xor_sync(FULL_MASK, t, 7);
    o[4] = (int)__ballot_sync(FULL_MASK, lane % 3 == 0);
    o[5] = __any_sync(FULL_MASK, lane == 31);
    o[6] = __all_sync(FULL_MASK, lane < 31);
    o[7] = __shfl_sync(FULL_MASK, t, 0, 8);
    __syncwarp();
    o[8] = __shfl_down_sync(FULL_MASK, t, 1, 16);
}

// out (blocks): sum over each block's threads of inp, by warp shuffles of doubles then shared memory.
extern "C" __global__ void __launch_bounds__(256) block_sum_double(double* out, const double* inp)
{
    __shared__ double warp_sums[32];
    const int t = threadIdx.x;
    double v = inp[blockIdx.x * blockDim.x + t];
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(FULL_MASK, v, offset);
    if (t % 32 == 0) warp_sums[t / 32] = v;
    __syncthreads();
    if (t == 0)
    {
        double s = 0.0;
        for (int w = 0; w < (int)(blockDim.x / 32); w++) s += warp_sums[w];
        out[blockIdx.x] = s;
    }
}

// counter (1) += threads; fsum (1) += 0.5 per thread; maxv (1) = max thread index.
extern "C" __global__ void __launch_bounds__(128) atomics(unsigned int* counter, float* fsum, int* maxv)
{
    atomicAdd(counter, 1u);
    atomicAdd(fsum, 0.5f);
    atomicMax(maxv, (int)(blockIdx.x * blockDim.x + threadIdx.x));
}

// out (blocks*threads) = inp reversed within each block, through dynamic shared memory.
extern "C" __global__ void __launch_bounds__(128) reverse_dynamic_shared(float* out, const float* inp)
{
    extern __shared__ float buffer[];
    const int t = threadIdx.x, base = blockIdx.x * blockDim.x;
    buffer[t] = inp[base + t];
    __syncthreads();
    out[base + t] = buffer[blockDim.x - 1 - t];
}

// BROKEN: reads one float past the end of the dynamic shared memory it was given.
extern "C" __global__ void __launch_bounds__(64) dynamic_shared_overrun(float* out)
{
    extern __shared__ float buffer[];
    buffer[threadIdx.x] = 1.0f;
    __syncthreads();
    out[threadIdx.x] = buffer[threadIdx.x + 1];
}

// out (gx*gy*gz, bx*by*bz, 4): the linear block index, linear thread index, blockDim product, gridDim product.
extern "C" __global__ void __launch_bounds__(24) indices(int* out)
{
    const int b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const int t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    const int threads = blockDim.x * blockDim.y * blockDim.z;
    int* o = out + ((long long)b * threads + t) * 4;
    o[0] = b;
    o[1] = t;
    o[2] = threads;
    o[3] = gridDim.x * gridDim.y * gridDim.z;
}

// out (1): every argument type round-trips.
extern "C" __global__ void __launch_bounds__(1) arg_types(double* out, int a, unsigned int b, long long c, unsigned long long d, float e, double f)
{
    out[0] = a;
    out[1] = b;
    out[2] = (double)c;
    out[3] = (double)d;
    out[4] = e;
    out[5] = f;
}

// out (threads): `iterations` rounds of a shared-memory rotation, two barriers each (context-switch cost).
extern "C" __global__ void __launch_bounds__(256) barrier_loop(float* out, int iterations)
{
    __shared__ float s[1024];
    const int t = threadIdx.x;
    float v = (float)t;
    for (int k = 0; k < iterations; k++)
    {
        s[t] = v;
        __syncthreads();
        v = s[(t + 1) % blockDim.x];
        __syncthreads();
    }
    out[t] = v;
}

// BROKEN: a 256 KiB local array, beyond an emulated thread's stack. out (1)
extern "C" __global__ void __launch_bounds__(1) stack_hog(float* out, int index)
{
    volatile float big[65536];
    big[index] = 1.0f;
    out[0] = big[index];
}

// The grid barrier of kernels.cu's grid_sync, in its emulator form (these kernels run only on the emulator).
#define grid_sync() rff_emu_grid_sync()

// out (rounds, blocks), slot (blocks): in round r, block k's last thread writes k + r * blocks into slot[k], the grid
// syncs, every thread of block k reads block (k + 1)'s slot, the grid syncs again (before the next round overwrites
// it), and the last thread stores what it read in out[r][k]. Launched cooperatively.
extern "C" __global__ void __launch_bounds__(64) grid_exchange(float* out, float* slot, int rounds)
{
    const int blocks = gridDim.x, k = blockIdx.x, last = threadIdx.x == blockDim.x - 1;
    for (int r = 0; r < rounds; r++)
    {
        if (last) slot[k] = (float)(k + r * blocks);
        grid_sync();
        const float v = slot[(k + 1) % blocks];
        grid_sync();
        if (last) out[r * blocks + k] = v;
    }
}

// BROKEN: block 0 leaves while the others wait at the grid barrier. out (blocks)
extern "C" __global__ void __launch_bounds__(64) grid_early_exit(float* out)
{
    if (blockIdx.x == 0) return;
    grid_sync();
    out[blockIdx.x] = 1.0f;
}

// BROKEN: block 0 reads past the end of inp (n) while the others wait at the grid barrier. out (blocks)
extern "C" __global__ void __launch_bounds__(64) grid_fault(float* out, const float* inp, int n)
{
    if (blockIdx.x == 0) out[0] = inp[n + threadIdx.x];
    grid_sync();
    out[blockIdx.x] = 1.0f;
}

#define RFF_KERNEL_TABLE(X)          \
    X(neighbour_sum)                 \
    X(neighbour_sum_missing_barrier) \
    X(early_exit_barrier)            \
    X(divergent_barriers)            \
    X(read_past_end)                 \
    X(write_past_end)                \
    X(warp_op_after_exit)            \
    X(trap_kernel)                   \
    X(warp_ops)                      \
    X(block_sum_double)              \
    X(atomics)                       \
    X(reverse_dynamic_shared)        \
    X(dynamic_shared_overrun)        \
    X(indices)                       \
    X(arg_types)                     \
    X(barrier_loop)                  \
    X(stack_hog)                     \
    X(grid_exchange)                 \
    X(grid_early_exit)               \
    X(grid_fault)
