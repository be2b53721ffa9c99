// RawFlipFlop CUDA kernels. Compiled at run time by NVRTC (no #include: NVRTC runs without CUDA headers)
// and, for the emulator, as C++ by g++ (src/Kernels/Emulator/cuda_emulator.h gives the CUDA semantics). Every
// entry point is `extern "C" __global__`, has a comment with its shapes above it, declares the block size it is
// launched with as `__launch_bounds__(N)` (N a number or an integer #define; the host reads it from there), and
// is listed once by name in the kernel table at the end of this file.
// Shapes are row-major; N = B*T rows. "+=" marks a buffer that is accumulated into.
// Reductions that feed training run in a fixed order (no float atomics), so results are bit-reproducible.

// ---------------------------------------------------------------------------------------------------------
// Common device helpers
// ---------------------------------------------------------------------------------------------------------

#define WARP_SIZE 32
#define FULL_MASK 0xffffffffu

// Sum over the 32 lanes of a warp; every lane gets the total (butterfly order, the same on every lane).
__device__ __forceinline__ float warp_sum(float v)
{
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(FULL_MASK, v, offset);
    return v;
}

__device__ __forceinline__ bool aligned16(const void* p)
{
    return ((unsigned long long)p & 15ull) == 0;
}

// Waits until every thread of the grid has arrived; what they wrote before is then visible to all. Only in kernels
// launched cooperatively (cuLaunchCooperativeKernel: every block resident, else this never returns). NVRTC without
// headers has no cooperative_groups, so this is its grid.sync() written out: each block's thread 0 adds to a global
// counter, block 0 adding 2^31 - (blocks - 1) and the others 1, so that the counter's top bit flips exactly when the
// last block arrives, and spins until it sees the flip. `counter` (1): zero when allocated; every launch leaves its
// low 31 bits zero again. The emulator implements it with real waits (cuda_emulator.h, rff_emu_grid_sync).
__device__ __forceinline__ void grid_sync(unsigned int* counter)
{
#ifdef __CUDA_ARCH__
    __syncthreads();
    if (threadIdx.x == 0 && threadIdx.y == 0 && threadIdx.z == 0)
    {
        const unsigned int blocks = gridDim.x * gridDim.y * gridDim.z;
        const bool first = blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0;
        __threadfence();  // this block's writes (ordered before by the barrier) reach the device before the arrival
        const unsigned int old = atomicAdd(counter, first ? 0x80000000u - (blocks - 1) : 1u);
        while (((old ^ *(volatile unsigned int*)counter) & 0x80000000u) == 0) {}
        __threadfence();
    }
    __syncthreads();
#else
    (void)counter;
    rff_emu_grid_sync();
#endif
}

// ---------------------------------------------------------------------------------------------------------
// AdamW
// ---------------------------------------------------------------------------------------------------------

// params (n), grads (n), m (n), v (n): one AdamW step in place, torch.optim.AdamW's formula.
// decay = 1 - lr*wd; step_size = lr / (1 - beta1^t); bc2_sqrt = sqrt(1 - beta2^t) (computed by the host).
// skip (1) or null: when skip[0] != 0 (a diverged loss, see loss_guard) nothing changes. It lives on the device so that
// a step can be queued before the host has read its loss.
extern "C" __global__ void __launch_bounds__(256)
adamw_update(float* __restrict__ params, const float* __restrict__ grads, float* __restrict__ m, float* __restrict__ v,
             long long n, float decay, float beta1, float beta2, float eps, float step_size, float bc2_sqrt,
             const int* __restrict__ skip)
{
    if (skip != nullptr && skip[0] != 0) return;
    const float one_minus_beta1 = 1.0f - beta1, one_minus_beta2 = 1.0f - beta2;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        float g = grads[i];
        float p = params[i] * decay;
        float mi = m[i] + (g - m[i]) * one_minus_beta1;
        float vi = v[i] * beta2 + one_minus_beta2 * g * g;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        params[i] = p - step_size * mi / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

// diverged (1) becomes 1 when loss (1) is NaN or infinite and then stays 1: the device-side divergence guard that
// adamw_update reads, so that no update follows a non-finite loss even while the host reads losses only every N steps.
extern "C" __global__ void __launch_bounds__(32)
loss_guard(int* __restrict__ diverged, const float* __restrict__ loss)
{
    // all exponent bits set: infinity or NaN (a bit test, the same under fast-math flags and in the emulator)
    if (blockIdx.x == 0 && threadIdx.x == 0 && (__float_as_uint(loss[0]) & 0x7f800000u) == 0x7f800000u) diverged[0] = 1;
}

// ---------------------------------------------------------------------------------------------------------
// Layer norm (eps 1e-5)
// ---------------------------------------------------------------------------------------------------------

#define LN_EPS 1e-5f
// Rows per block of layernorm_backward: the unit of its fixed-order partial sums of dweight and dbias.
#define LN_BWD_ROWS 32

// out (N,C), mean (N), rstd (N), inp (N,C), weight (C), bias (C): one warp per row, two passes (mean, variance).
extern "C" __global__ void __launch_bounds__(256)
layernorm_forward(float* __restrict__ out, float* __restrict__ mean, float* __restrict__ rstd,
                  const float* __restrict__ inp, const float* __restrict__ weight, const float* __restrict__ bias,
                  int N, int C)
{
    const int lane = threadIdx.x % WARP_SIZE;
    const int row = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE;
    if (row >= N) return;  // whole warps leave together
    const float* x = inp + (long long)row * C;
    float sum = 0.0f;
    for (int i = lane; i < C; i += WARP_SIZE) sum += x[i];
    const float m = warp_sum(sum) / C;
    float var = 0.0f;
    for (int i = lane; i < C; i += WARP_SIZE)
    {
        float d = x[i] - m;
        var += d * d;
    }
    const float s = rsqrtf(warp_sum(var) / C + LN_EPS);
    float* y = out + (long long)row * C;
    for (int i = lane; i < C; i += WARP_SIZE) y[i] = (x[i] - m) * s * weight[i] + bias[i];
    if (lane == 0)
    {
        mean[row] = m;
        rstd[row] = s;
    }
}

// dinp (N,C) +=; partials (2, gridDim.x, C) = per-block sums over its LN_BWD_ROWS rows of norm*dout (for dweight)
// and dout (for dbias); dout (N,C), inp (N,C), weight (C), mean (N), rstd (N).
// Rows: one warp per row. Column sums: one thread per column, rows in order. layernorm_backward_reduce finishes.
extern "C" __global__ void __launch_bounds__(256)
layernorm_backward(float* __restrict__ dinp, float* __restrict__ partials, const float* __restrict__ dout,
                   const float* __restrict__ inp, const float* __restrict__ weight, const float* __restrict__ mean,
                   const float* __restrict__ rstd, int N, int C)
{
    const int warps = blockDim.x / WARP_SIZE, warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    const int row0 = blockIdx.x * LN_BWD_ROWS;
    const int rows = min(LN_BWD_ROWS, N - row0);
    for (int r = warp; r < rows; r += warps)
    {
        const long long row = row0 + r;
        const float* x = inp + row * C;
        const float* dy = dout + row * C;
        float* dx = dinp + row * C;
        const float m = mean[row], s = rstd[row];
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (int i = lane; i < C; i += WARP_SIZE)
        {
            float norm = (x[i] - m) * s;
            float dnorm = weight[i] * dy[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean = warp_sum(dnorm_mean) / C;
        dnorm_norm_mean = warp_sum(dnorm_norm_mean) / C;
        for (int i = lane; i < C; i += WARP_SIZE)
        {
            float norm = (x[i] - m) * s;
            float dnorm = weight[i] * dy[i];
            dx[i] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
    // The column sums read only inputs, so they need no barrier after the row loop.
    for (int col = threadIdx.x; col < C; col += blockDim.x)
    {
        float dw = 0.0f, db = 0.0f;
        for (int r = 0; r < rows; r++)
        {
            const long long row = row0 + r;
            const float dy = dout[row * C + col];
            dw += (inp[row * C + col] - mean[row]) * rstd[row] * dy;
            db += dy;
        }
        partials[(long long)blockIdx.x * C + col] = dw;
        partials[((long long)gridDim.x + blockIdx.x) * C + col] = db;
    }
}

// dweight (C) +=, dbias (C) += the sums over blocks of partials (2, blocks, C), in block order.
extern "C" __global__ void __launch_bounds__(256)
layernorm_backward_reduce(float* __restrict__ dweight, float* __restrict__ dbias, const float* __restrict__ partials,
                          int blocks, int C)
{
    const int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= C) return;
    float dw = 0.0f, db = 0.0f;
    for (int b = 0; b < blocks; b++)
    {
        dw += partials[(long long)b * C + col];
        db += partials[((long long)blocks + b) * C + col];
    }
    dweight[col] += dw;
    dbias[col] += db;
}

// ---------------------------------------------------------------------------------------------------------
// Matmul: C (M,N) (+)= A (M,K) B (K,N) (+ bias (N)), tiled through shared memory.
// A block computes a GEMM_BM x GEMM_BN tile of C with GEMM_THREADS threads; each thread an 8x8 register block
// (rows ty*4..+4 and 64+ty*4..+4, columns tx*4..+4 and 64+tx*4..+4). The K loop stages GEMM_BK-deep slices of
// A and B in shared memory with float4 loads where the layout allows, zero padding outside the matrices, so
// any M, N, K works. Every element of C is reduced in k order.
// ---------------------------------------------------------------------------------------------------------

#define GEMM_BM 128
#define GEMM_BN 128
#define GEMM_BK 16
#define GEMM_PAD 4
#define GEMM_THREADS 256
static_assert(GEMM_THREADS == 16 * 16, "gemm_tile lays its threads out as 16 x 16 (tx = thread % 16, ty = thread / 16)");
static_assert(GEMM_BM == 2 * 4 * (GEMM_THREADS / 16) && GEMM_BN == 2 * 4 * 16,
              "a thread's 8x8 block is two 4-row and two 4-column strips half a tile (64) apart");
static_assert(GEMM_BM == GEMM_BN, "gemm_load_tile stages the A and B tiles with one row width");
static_assert(GEMM_BK % 4 == 0, "gemm_load_tile reads contiguous k four at a time (float4)");
static_assert((GEMM_BK * GEMM_BM / 4) % GEMM_THREADS == 0, "the float4 slots of a tile divide evenly among the threads");
static_assert((GEMM_BM + GEMM_PAD) % 4 == 0, "padded tile rows stay 16-byte aligned for float4 accesses");

// p[0..3] of a row of `length` floats where p[0] is element `first`, zero past the row's end: one float4 load
// when vec (the row length is a multiple of 4 and the row 16-byte aligned), else element by element.
__device__ __forceinline__ float4 gemm_load4(const float* p, int first, int length, bool vec)
{
    float4 q = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (vec && first < length)
        q = *reinterpret_cast<const float4*>(p);
    else
    {
        if (first < length) q.x = p[0];
        if (first + 1 < length) q.y = p[1];
        if (first + 2 < length) q.z = p[2];
        if (first + 3 < length) q.w = p[3];
    }
    return q;
}

// tile (GEMM_BK, 128 + GEMM_PAD) [k][r] = X[r0 + r, k0 + k] for an operand X with R rows of K values:
// X is stored row-major (R,K) when K_CONTIGUOUS, otherwise (K,R). vec: float4 loads are safe (row length
// a multiple of 4 and X 16-byte aligned). Zero outside X.
template <bool K_CONTIGUOUS>
__device__ __forceinline__ void gemm_load_tile(float (*tile)[GEMM_BM + GEMM_PAD], const float* __restrict__ x, int R, int K,
                                               int r0, int k0, bool vec)
{
    const float4 zero = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
#pragma unroll
    for (int i = 0; i < (GEMM_BK * GEMM_BM / 4) / GEMM_THREADS; i++)
    {
        const int f = threadIdx.x + i * GEMM_THREADS;  // float4 slot of the tile
        if (K_CONTIGUOUS)
        {
            // four consecutive k of row r, stored down a column of the tile
            const int r = f / (GEMM_BK / 4), kq = (f % (GEMM_BK / 4)) * 4;
            const int gr = r0 + r, gk = k0 + kq;
            const float4 q = gr < R ? gemm_load4(x + (long long)gr * K + gk, gk, K, vec) : zero;
            tile[kq][r] = q.x;
            tile[kq + 1][r] = q.y;
            tile[kq + 2][r] = q.z;
            tile[kq + 3][r] = q.w;
        }
        else
        {
            // four consecutive rows of k, stored along a row of the tile
            const int k = f / (GEMM_BM / 4), rq = (f % (GEMM_BM / 4)) * 4;
            const int gk = k0 + k, gr = r0 + rq;
            *reinterpret_cast<float4*>(&tile[k][rq]) = gk < K ? gemm_load4(x + (long long)gk * R + gr, gr, R, vec) : zero;
        }
    }
}

// c (M,N) = a b (+ bias (N)), or c += a b when accumulate. a is (M,K) row-major when A_K_CONTIGUOUS, else stored
// (K,M); b is (N,K) row-major when B_K_CONTIGUOUS (so the product uses its transpose), else stored (K,N).
template <bool A_K_CONTIGUOUS, bool B_K_CONTIGUOUS>
__device__ __forceinline__ void gemm_tile(float* __restrict__ c, const float* __restrict__ a, const float* __restrict__ b,
                                          const float* __restrict__ bias, int M, int N, int K, bool accumulate)
{
    __shared__ __align__(16) float as[GEMM_BK][GEMM_BM + GEMM_PAD];
    __shared__ __align__(16) float bs[GEMM_BK][GEMM_BN + GEMM_PAD];
    const int m0 = blockIdx.y * GEMM_BM, n0 = blockIdx.x * GEMM_BN;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const bool vec_a = (A_K_CONTIGUOUS ? K % 4 == 0 : M % 4 == 0) && aligned16(a);
    const bool vec_b = (B_K_CONTIGUOUS ? K % 4 == 0 : N % 4 == 0) && aligned16(b);

    float acc[8][8];
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 8; j++) acc[i][j] = 0.0f;

    for (int k0 = 0; k0 < K; k0 += GEMM_BK)
    {
        gemm_load_tile<A_K_CONTIGUOUS>(as, a, M, K, m0, k0, vec_a);
        gemm_load_tile<B_K_CONTIGUOUS>(bs, b, N, K, n0, k0, vec_b);
        __syncthreads();
#pragma unroll
        for (int k = 0; k < GEMM_BK; k++)
        {
            const float4 a0 = *reinterpret_cast<const float4*>(&as[k][ty * 4]);
            const float4 a1 = *reinterpret_cast<const float4*>(&as[k][64 + ty * 4]);
            const float4 b0 = *reinterpret_cast<const float4*>(&bs[k][tx * 4]);
            const float4 b1 = *reinterpret_cast<const float4*>(&bs[k][64 + tx * 4]);
            const float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            const float bv[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
            for (int i = 0; i < 8; i++)
#pragma unroll
                for (int j = 0; j < 8; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
        __syncthreads();
    }

    const bool vec_c = N % 4 == 0 && aligned16(c);
#pragma unroll
    for (int i = 0; i < 8; i++)
    {
        const int row = m0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
        if (row >= M) continue;
#pragma unroll
        for (int h = 0; h < 2; h++)
        {
            const int col = n0 + h * 64 + tx * 4;
            if (col >= N) continue;
            float* p = c + (long long)row * N + col;
            float v[4] = {acc[i][h * 4], acc[i][h * 4 + 1], acc[i][h * 4 + 2], acc[i][h * 4 + 3]};
            if (bias != nullptr)
            {
#pragma unroll
                for (int j = 0; j < 4; j++)
                    if (col + j < N) v[j] += bias[col + j];
            }
            if (vec_c)
            {
                if (accumulate)
                {
                    const float4 o = *reinterpret_cast<const float4*>(p);
                    v[0] += o.x;
                    v[1] += o.y;
                    v[2] += o.z;
                    v[3] += o.w;
                }
                *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
            }
            else
            {
#pragma unroll
                for (int j = 0; j < 4; j++)
                    if (col + j < N) p[j] = accumulate ? p[j] + v[j] : v[j];
            }
        }
    }
}

// out (N,OC) = inp (N,C) weight (OC,C)^T + bias (OC) (bias may be null). Grid (ceil(OC/128), ceil(N/128)).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
matmul_forward(float* __restrict__ out, const float* __restrict__ inp, const float* __restrict__ weight,
               const float* __restrict__ bias, int N, int C, int OC)
{
    gemm_tile<true, true>(out, inp, weight, bias, N, OC, C, false);
}

// dinp (N,C) += dout (N,OC) weight (OC,C). Grid (ceil(C/128), ceil(N/128)).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
matmul_backward_input(float* __restrict__ dinp, const float* __restrict__ dout, const float* __restrict__ weight,
                      int N, int C, int OC)
{
    gemm_tile<true, false>(dinp, dout, weight, nullptr, N, C, OC, true);
}

// dweight (OC,C) += dout (N,OC)^T inp (N,C). Grid (ceil(C/128), ceil(OC/128)).
extern "C" __global__ void __launch_bounds__(GEMM_THREADS)
matmul_backward_weight(float* __restrict__ dweight, const float* __restrict__ dout, const float* __restrict__ inp,
                       int N, int C, int OC)
{
    gemm_tile<false, false>(dweight, dout, inp, nullptr, OC, C, N, true);
}

#define BIAS_WARPS 8
#define BIAS_THREADS 256
static_assert(BIAS_THREADS == BIAS_WARPS * WARP_SIZE, "matmul_backward_bias: one partial sum per warp");

// dbias (OC) += column sums of dout (N,OC). A block sums WARP_SIZE columns: warp w adds rows w, w+BIAS_WARPS, ...
// in order, then the BIAS_WARPS partial sums are added in warp order. Grid ceil(OC/WARP_SIZE).
extern "C" __global__ void __launch_bounds__(BIAS_THREADS)
matmul_backward_bias(float* __restrict__ dbias, const float* __restrict__ dout, int N, int OC)
{
    __shared__ float partial[BIAS_WARPS][WARP_SIZE];
    const int tx = threadIdx.x % WARP_SIZE, ty = threadIdx.x / WARP_SIZE;
    const int col = blockIdx.x * WARP_SIZE + tx;
    float sum = 0.0f;
    if (col < OC)
        for (int row = ty; row < N; row += BIAS_WARPS) sum += dout[(long long)row * OC + col];
    partial[ty][tx] = sum;
    __syncthreads();
    if (ty == 0 && col < OC)
    {
        float total = 0.0f;
        for (int i = 0; i < BIAS_WARPS; i++) total += partial[i][tx];
        dbias[col] += total;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Warp-matrix primitives (tensor cores, sm_80 and later)
// Each is one PTX instruction on the GPU (inline asm, no headers needed); where __CUDA_ARCH__ is not defined (the
// emulator) cuda_emulator_tensor.h implements it with the same per-lane fragment ownership and, for mma and
// ldmatrix, the same warp-collective semantics (all 32 lanes of the warp take part). The mma fragments of lane
// l = 4g + t (g = l / 4, t = l % 4), as the PTX ISA specifies for mma.m16n8k8 with .tf32 inputs:
//   A (16x8, row):  a[0] = A[g][t]     a[1] = A[g+8][t]     a[2] = A[g][t+4]     a[3] = A[g+8][t+4]
//   B (8x8, col):   b[0] = B[t][g]     b[1] = B[t+4][g]
//   C, D (16x8):    d[0] = D[g][2t]    d[1] = D[g][2t+1]    d[2] = D[g+8][2t]    d[3] = D[g+8][2t+1]
// ---------------------------------------------------------------------------------------------------------

// x rounded to TF32 (cvt.rna.tf32.f32: 10 mantissa bits, to nearest, ties away from zero), as an FP32 bit
// pattern whose 13 low bits are zero.
__device__ __forceinline__ unsigned tf32_round(float x)
{
#ifdef __CUDA_ARCH__
    unsigned r;
    asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
    return r;
#else
    return ::rff_emu::tf32_round(x);
#endif
}

// d += a b over one 16x8x8 tile (mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32, D and C the same registers):
// TF32 inputs (the tensor cores ignore the 13 low bits of an FP32 pattern), FP32 accumulation. Warp-wide.
__device__ __forceinline__ void mma_tf32_m16n8k8(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2])
{
#ifdef __CUDA_ARCH__
    asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#else
    ::rff_emu::mma_tf32_m16n8k8(d, a, b);
#endif
}

// Four 8x8 matrices of 16-bit elements from shared memory, here read as 8 rows of four 32-bit words each
// (ldmatrix.sync.aligned.m8n8.x4.shared.b16): lane l gives the 16-byte aligned address of row l % 8 of matrix
// l / 8 and receives r[i] = word l % 4 of row l / 4 of matrix i: for 32-bit data the layout of an mma fragment.
// Warp-wide.
__device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const float* row)
{
#ifdef __CUDA_ARCH__
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"((unsigned)__cvta_generic_to_shared(row)));
#else
    ::rff_emu::ldmatrix(r, 4, row);
#endif
}

// A warp's run of mma and ldmatrix instructions with no other warp operation in between. The GPU issues each
// instruction at once; the emulator records them and runs the run in one warp rendezvous at issue() (the same
// instructions in the same order, each seeing the registers as the previous ones left them) instead of one per
// instruction. So nothing may read a destination register (an accumulator, a loaded fragment) between the
// instruction and issue().
struct warp_sequence
{
#ifdef __CUDA_ARCH__
    __device__ __forceinline__ void mma(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) { mma_tf32_m16n8k8(d, a, b); }
    __device__ __forceinline__ void ldmatrix_x4(unsigned (&r)[4], const float* row) { ::ldmatrix_x4(r, row); }
    __device__ __forceinline__ void issue() {}
#else
    ::rff_emu::WarpSequence recorded;
    void mma(float (&d)[4], const unsigned (&a)[4], const unsigned (&b)[2]) { recorded.mma(d, a, b); }
    void ldmatrix_x4(unsigned (&r)[4], const float* row) { recorded.ldmatrix(r, 4, row); }
    void issue() { ::rff_emu::warp_sequence_run(recorded); }
#endif
};

// shared[0..3] = global[0..3] asynchronously (cp.async.cg: 16 bytes, both addresses 16-byte aligned, L1 bypassed),
// or 16 zero bytes when !valid (nothing is read then; global must still be a valid address).
__device__ __forceinline__ void cp_async_16(float* shared, const float* global, bool valid)
{
#ifdef __CUDA_ARCH__
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;"
                 :: "r"((unsigned)__cvta_generic_to_shared(shared)), "l"(global), "r"(valid ? 16 : 0) : "memory");
#else
    ::rff_emu::cp_async(shared, global, 16, valid ? 16 : 0);
#endif
}

// shared[0] = global[0] asynchronously (cp.async.ca, 4 bytes), or 0 when !valid: for rows that are not 16-byte aligned.
__device__ __forceinline__ void cp_async_4(float* shared, const float* global, bool valid)
{
#ifdef __CUDA_ARCH__
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;"
                 :: "r"((unsigned)__cvta_generic_to_shared(shared)), "l"(global), "r"(valid ? 4 : 0) : "memory");
#else
    ::rff_emu::cp_async(shared, global, 4, valid ? 4 : 0);
#endif
}

// Closes this thread's group of cp.async issued since the last commit (cp.async.commit_group).
__device__ __forceinline__ void cp_async_commit()
{
#ifdef __CUDA_ARCH__
    asm volatile("cp.async.commit_group;" ::: "memory");
#else
    ::rff_emu::cp_async_commit();
#endif
}

// Waits until at most PENDING of this thread's newest committed groups are still in flight
// (cp.async.wait_group); other threads see the data after a barrier that follows.
template <int PENDING>
__device__ __forceinline__ void cp_async_wait()
{
#ifdef __CUDA_ARCH__
    asm volatile("cp.async.wait_group %0;" :: "n"(PENDING) : "memory");
#else
    ::rff_emu::cp_async_wait(PENDING);
#endif
}

// ---- end of the warp-matrix primitives ----

// ---------------------------------------------------------------------------------------------------------
// Tensor-core matmul, TF32 and 3xTF32: C (M,N) (+)= A (M,K) B (K,N) (+ bias (N)), each operand stored either way.
// A block computes a TC_BM x TC_BN tile of C with TC_THREADS threads: 2 x 2 warps, each a 32 x 32 warp tile of
// 2 x 4 mma.m16n8k8 tiles. K runs in TC_BK-deep slices through a TC_STAGES-deep cp.async pipeline in dynamic
// shared memory (CUTLASS's multistage scheme): TC_STAGES - 1 slices are in flight while one is multiplied, with one
// barrier per slice. Slices are zero-filled outside the matrices, so any M, N, K works; 16-byte copies where rows
// are 16-byte aligned, else 4-byte copies. Every element of C is reduced in k order (within an mma's k8 step, in
// the tensor cores' order), so results are bit-reproducible.
// Precision: TC_TF32 rounds each operand to TF32 (one mma per product); TC_3XTF32 splits x = hi + lo with
// hi = tf32(x), lo = tf32(x - hi) and adds lo_a hi_b, hi_a lo_b, hi_a hi_b (three mmas, small terms first:
// CUTLASS's "fast FP32"), which keeps about 21 of FP32's 24 mantissa bits of every product.
// Shared memory layout of an operand's slice: (rows, k) with row stride TC_K_STRIDE when the operand is stored with
// k contiguous (ldmatrix reads its fragments), else (k, rows) with row stride TC_MN_STRIDE (32-bit loads). The
// paddings make every fragment load and ldmatrix row fall in 32 distinct banks: 36 = 4 (mod 32) spreads the rows
// of an 8-row group over 4-bank steps, 72 = 8 (mod 32) spreads t (0..3) over 8-bank steps.
// Sized for the baseline (8192 rows, widths 512..2048): 64 x 64 tiles give every forward and input-gradient
// product at least two waves of 3 blocks per SM on 132 SMs (8192 x 512 outputs: 1024 blocks, 2.6 waves).
// ---------------------------------------------------------------------------------------------------------

#define TC_BM 64
#define TC_BN 64
#define TC_BK 32
#define TC_STAGES 4
#define TC_THREADS 128
#define TC_K_STRIDE 36
#define TC_MN_STRIDE 72
#define TC_TILE_FLOATS 2304
#define TC_SHARED_BYTES 73728
// Tile-kernel blocks resident on one SM as ptxas compiles them for sm_80 and sm_90 (by registers; 3 x 72 KiB of shared
// memory also fit): the wave size weight-gradient splits aim at. A test checks ptxas's occupancy against it.
#define TC_BLOCKS_PER_SM 3
#define TC_3XTF32 1
#define TC_TF32 2
static_assert(TC_BM == TC_BN, "tc_load_slice stages both operands' slices with one row count");
static_assert(TC_THREADS == 4 * WARP_SIZE && TC_BM == 2 * 32 && TC_BN == 2 * 32, "2 x 2 warps, each a 32 x 32 warp tile");
static_assert(TC_BK % 8 == 0, "a slice is whole k8 steps of mma.m16n8k8");
static_assert(TC_K_STRIDE >= TC_BK && TC_K_STRIDE % 32 == 4, "(rows, k) tiles: rows 4 banks apart, 16-byte aligned rows");
static_assert(TC_MN_STRIDE >= TC_BM && TC_MN_STRIDE % 32 == 8, "(k, rows) tiles: k rows 8 banks apart, 16-byte aligned rows");
static_assert(TC_TILE_FLOATS >= TC_BM * TC_K_STRIDE && TC_TILE_FLOATS >= TC_BK * TC_MN_STRIDE, "a slice fits its tile");
static_assert(TC_SHARED_BYTES == TC_STAGES * 2 * TC_TILE_FLOATS * 4, "TC_SHARED_BYTES: every stage's two tiles");
static_assert((TC_BM * TC_BK / 4) % TC_THREADS == 0, "a slice's 16-byte chunks divide evenly among the threads");

// One operand's slice into `tile`: rows r0..r0+TC_BM-1 and k k0..k0+TC_BK-1 of x, which has R rows of K values and
// is stored (R,K) row-major when K_CONTIGUOUS, else (K,R). Zero outside x. vec: x's contiguous dimension is a
// multiple of 4 and x is 16-byte aligned, so every 16-byte chunk is aligned and wholly inside or outside x.
template <bool K_CONTIGUOUS>
__device__ __forceinline__ void tc_load_slice(float* tile, const float* __restrict__ x, int R, int K, int r0, int k0, bool vec)
{
#pragma unroll
    for (int i = 0; i < (TC_BM * TC_BK / 4) / TC_THREADS; i++)
    {
        const int chunk = threadIdx.x + i * TC_THREADS;
        int gr, gk, contiguous, limit;
        float* dst;
        if (K_CONTIGUOUS)
        {
            const int r = chunk / (TC_BK / 4), k = (chunk % (TC_BK / 4)) * 4;
            dst = tile + r * TC_K_STRIDE + k;
            gr = r0 + r, gk = k0 + k;
            contiguous = gk, limit = K;
        }
        else
        {
            const int k = chunk / (TC_BM / 4), r = (chunk % (TC_BM / 4)) * 4;
            dst = tile + k * TC_MN_STRIDE + r;
            gr = r0 + r, gk = k0 + k;
            contiguous = gr, limit = R;
        }
        const bool inside = K_CONTIGUOUS ? gr < R : gk < K;  // the chunk's row of storage exists
        const float* src = x + (K_CONTIGUOUS ? (long long)gr * K + gk : (long long)gk * R + gr);
        if (vec)
            cp_async_16(dst, inside && contiguous < limit ? src : x, inside && contiguous < limit);
        else
        {
#pragma unroll
            for (int j = 0; j < 4; j++)
                cp_async_4(dst + j, inside && contiguous + j < limit ? src + j : x, inside && contiguous + j < limit);
        }
    }
}

// acc[mi][ni] += a[mi] b[ni] for the first m_tiles x n_tiles tiles, in PRECISION; a and b are raw FP32 patterns.
template <int PRECISION, int MT, int NT>
__device__ __forceinline__ void tc_mma_tiles(float (&acc)[MT][NT][4], const unsigned (&a)[MT][4], const unsigned (&b)[NT][2],
                                             int m_tiles = MT, int n_tiles = NT)
{
    unsigned a_hi[MT][4], a_lo[MT][4], b_hi[NT][2], b_lo[NT][2];
#pragma unroll
    for (int i = 0; i < MT; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
        {
            a_hi[i][j] = tf32_round(__uint_as_float(a[i][j]));
            a_lo[i][j] = PRECISION == TC_3XTF32 ? tf32_round(__uint_as_float(a[i][j]) - __uint_as_float(a_hi[i][j])) : 0u;
        }
#pragma unroll
    for (int i = 0; i < NT; i++)
#pragma unroll
        for (int j = 0; j < 2; j++)
        {
            b_hi[i][j] = tf32_round(__uint_as_float(b[i][j]));
            b_lo[i][j] = PRECISION == TC_3XTF32 ? tf32_round(__uint_as_float(b[i][j]) - __uint_as_float(b_hi[i][j])) : 0u;
        }
    warp_sequence sequence;
#pragma unroll
    for (int mi = 0; mi < MT; mi++)
#pragma unroll
        for (int ni = 0; ni < NT; ni++)
        {
            if (mi >= m_tiles || ni >= n_tiles) continue;  // warp-uniform
            if (PRECISION == TC_3XTF32)
            {
                sequence.mma(acc[mi][ni], a_lo[mi], b_hi[ni]);
                sequence.mma(acc[mi][ni], a_hi[mi], b_lo[ni]);
            }
            sequence.mma(acc[mi][ni], a_hi[mi], b_hi[ni]);
        }
    sequence.issue();
}

// acc += the warp tile (rows warp_m.., columns warp_n..) of one staged slice: a_tile holds A's, b_tile B's.
template <bool A_K_CONTIGUOUS, bool B_K_CONTIGUOUS, int PRECISION>
__device__ __forceinline__ void tc_multiply_slice(float (&acc)[2][4][4], const float* a_tile, const float* b_tile, int warp_m, int warp_n)
{
    const int lane = threadIdx.x % WARP_SIZE, g = lane / 4, t = lane % 4;
#pragma unroll
    for (int kk = 0; kk < TC_BK; kk += 8)
    {
        unsigned a[2][4], b[4][2], b_pairs[2][4];
        warp_sequence loads;
#pragma unroll
        for (int mi = 0; mi < 2; mi++)
        {
            const int row = warp_m + mi * 16;
            if (A_K_CONTIGUOUS)  // matrices: rows 0-7 / 8-15 at k kk (a[0], a[1]), then at kk + 4 (a[2], a[3])
                loads.ldmatrix_x4(a[mi], a_tile + (row + lane % 8 + (lane / 8) % 2 * 8) * TC_K_STRIDE + kk + lane / 16 * 4);
            else
            {
                a[mi][0] = __float_as_uint(a_tile[(kk + t) * TC_MN_STRIDE + row + g]);
                a[mi][1] = __float_as_uint(a_tile[(kk + t) * TC_MN_STRIDE + row + g + 8]);
                a[mi][2] = __float_as_uint(a_tile[(kk + t + 4) * TC_MN_STRIDE + row + g]);
                a[mi][3] = __float_as_uint(a_tile[(kk + t + 4) * TC_MN_STRIDE + row + g + 8]);
            }
        }
#pragma unroll
        for (int pair = 0; pair < 2; pair++)
        {
            const int col = warp_n + pair * 16;
            if (B_K_CONTIGUOUS)  // matrices: columns 0-7 at k kk, kk + 4 (b[2 pair]), columns 8-15 likewise (b[2 pair + 1])
                loads.ldmatrix_x4(b_pairs[pair], b_tile + (col + lane % 8 + lane / 16 * 8) * TC_K_STRIDE + kk + (lane / 8) % 2 * 4);
            else
            {
#pragma unroll
                for (int h = 0; h < 2; h++)
                {
                    b[2 * pair + h][0] = __float_as_uint(b_tile[(kk + t) * TC_MN_STRIDE + col + h * 8 + g]);
                    b[2 * pair + h][1] = __float_as_uint(b_tile[(kk + t + 4) * TC_MN_STRIDE + col + h * 8 + g]);
                }
            }
        }
        if (A_K_CONTIGUOUS || B_K_CONTIGUOUS) loads.issue();
        if (B_K_CONTIGUOUS)
        {
#pragma unroll
            for (int pair = 0; pair < 2; pair++)
#pragma unroll
                for (int h = 0; h < 2; h++)
                {
                    b[2 * pair + h][0] = b_pairs[pair][2 * h];
                    b[2 * pair + h][1] = b_pairs[pair][2 * h + 1];
                }
        }
        tc_mma_tiles<PRECISION>(acc, a, b);
    }
}

// c (M,N) = a b (+ bias (N)), or c += a b when accumulate, over k in [k_begin, k_end). a is (M,K) row-major when
// A_K_CONTIGUOUS, else stored (K,M); b is (N,K) row-major when B_K_CONTIGUOUS, else stored (K,N). Block (x, y) computes
// the tile at columns 64x, rows 64y. Needs TC_SHARED_BYTES of dynamic shared memory.
template <bool A_K_CONTIGUOUS, bool B_K_CONTIGUOUS, int PRECISION>
__device__ __forceinline__ void tc_gemm(float* __restrict__ c, const float* __restrict__ a, const float* __restrict__ b,
                                        const float* __restrict__ bias, int M, int N, int K, int k_begin, int k_end, bool accumulate)
{
    extern __shared__ __align__(16) float tc_stages[];  // (TC_STAGES, 2, TC_TILE_FLOATS): A's then B's slice per stage
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    const int m0 = blockIdx.y * TC_BM, n0 = blockIdx.x * TC_BN;
    const int warp_m = warp / 2 * 32, warp_n = warp % 2 * 32;
    const bool vec_a = (A_K_CONTIGUOUS ? K % 4 == 0 : M % 4 == 0) && aligned16(a);
    const bool vec_b = (B_K_CONTIGUOUS ? K % 4 == 0 : N % 4 == 0) && aligned16(b);
    const int slices = k_end > k_begin ? (k_end - k_begin + TC_BK - 1) / TC_BK : 0;

    float acc[2][4][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 4; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.0f;

    // Prologue: slices 0..TC_STAGES-2 in flight, one commit group each (empty groups keep the count uniform).
#pragma unroll
    for (int s = 0; s < TC_STAGES - 1; s++)
    {
        if (s < slices)
        {
            float* stage = tc_stages + s * 2 * TC_TILE_FLOATS;
            tc_load_slice<A_K_CONTIGUOUS>(stage, a, M, K, m0, k_begin + s * TC_BK, vec_a);
            tc_load_slice<B_K_CONTIGUOUS>(stage + TC_TILE_FLOATS, b, N, K, n0, k_begin + s * TC_BK, vec_b);
        }
        cp_async_commit();
    }
    for (int s = 0; s < slices; s++)
    {
        cp_async_wait<TC_STAGES - 2>();  // this thread's copies of slice s have landed ...
        __syncthreads();                 // ... and everyone's; everyone is done with slice s-1, whose stage is refilled next
        const int next = s + TC_STAGES - 1;
        if (next < slices)
        {
            float* stage = tc_stages + next % TC_STAGES * 2 * TC_TILE_FLOATS;
            tc_load_slice<A_K_CONTIGUOUS>(stage, a, M, K, m0, k_begin + next * TC_BK, vec_a);
            tc_load_slice<B_K_CONTIGUOUS>(stage + TC_TILE_FLOATS, b, N, K, n0, k_begin + next * TC_BK, vec_b);
        }
        cp_async_commit();
        const float* stage = tc_stages + s % TC_STAGES * 2 * TC_TILE_FLOATS;
        tc_multiply_slice<A_K_CONTIGUOUS, B_K_CONTIGUOUS, PRECISION>(acc, stage, stage + TC_TILE_FLOATS, warp_m, warp_n);
    }

    // Epilogue: lane (g, t) holds rows g and g + 8, columns 2t and 2t + 1 of each 16 x 8 tile.
    const int g = lane / 4, t = lane % 4;
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int half = 0; half < 2; half++)
        {
            const int row = m0 + warp_m + mi * 16 + g + half * 8;
            if (row >= M) continue;
#pragma unroll
            for (int ni = 0; ni < 4; ni++)
#pragma unroll
                for (int j = 0; j < 2; j++)
                {
                    const int col = n0 + warp_n + ni * 8 + 2 * t + j;
                    if (col >= N) continue;
                    float v = acc[mi][ni][2 * half + j];
                    if (bias != nullptr) v += bias[col];
                    float* p = c + (long long)row * N + col;
                    *p = accumulate ? *p + v : v;
                }
        }
}

// out (N,OC) = inp (N,C) weight (OC,C)^T + bias (OC) (bias may be null), 3xTF32.
// Grid (ceil(OC/TC_BN), ceil(N/TC_BM)), TC_SHARED_BYTES of dynamic shared memory.
extern "C" __global__ void __launch_bounds__(TC_THREADS)
matmul_forward_3xtf32(float* __restrict__ out, const float* __restrict__ inp, const float* __restrict__ weight,
                     const float* __restrict__ bias, int N, int C, int OC)
{
    tc_gemm<true, true, TC_3XTF32>(out, inp, weight, bias, N, OC, C, 0, C, false);
}

// out (N,OC) = inp (N,C) weight (OC,C)^T + bias (OC) (bias may be null), TF32.
// Grid (ceil(OC/TC_BN), ceil(N/TC_BM)), TC_SHARED_BYTES of dynamic shared memory.
extern "C" __global__ void __launch_bounds__(TC_THREADS)
matmul_forward_tf32(float* __restrict__ out, const float* __restrict__ inp, const float* __restrict__ weight,
                     const float* __restrict__ bias, int N, int C, int OC)
{
    tc_gemm<true, true, TC_TF32>(out, inp, weight, bias, N, OC, C, 0, C, false);
}

// dinp (N,C) += dout (N,OC) weight (OC,C), 3xTF32. Grid (ceil(C/TC_BN), ceil(N/TC_BM)), TC_SHARED_BYTES.
extern "C" __global__ void __launch_bounds__(TC_THREADS)
matmul_backward_input_3xtf32(float* __restrict__ dinp, const float* __restrict__ dout, const float* __restrict__ weight,
                            int N, int C, int OC)
{
    tc_gemm<true, false, TC_3XTF32>(dinp, dout, weight, nullptr, N, C, OC, 0, OC, true);
}

// dinp (N,C) += dout (N,OC) weight (OC,C), TF32. Grid (ceil(C/TC_BN), ceil(N/TC_BM)), TC_SHARED_BYTES.
extern "C" __global__ void __launch_bounds__(TC_THREADS)
matmul_backward_input_tf32(float* __restrict__ dinp, const float* __restrict__ dout, const float* __restrict__ weight,
                            int N, int C, int OC)
{
    tc_gemm<true, false, TC_TF32>(dinp, dout, weight, nullptr, N, C, OC, 0, OC, true);
}

// dout (N,OC)^T inp (N,C) over the rows of slice z = blockIdx.z (rows z*k_slice.., k_slice a multiple of TC_BK),
// 3xTF32: added into out (OC,C) when accumulate (one slice: out is dweight), else written to
// out + z*OC*C (out: the partial sums (slices, OC, C) that matmul_split_k_reduce adds up). Grid (ceil(C/TC_BN),
// ceil(OC/TC_BM), slices), TC_SHARED_BYTES.
extern "C" __global__ void __launch_bounds__(TC_THREADS)
matmul_backward_weight_3xtf32(float* __restrict__ out, const float* __restrict__ dout, const float* __restrict__ inp,
                             int N, int C, int OC, int k_slice, int accumulate)
{
    const int k_begin = blockIdx.z * k_slice, k_end = min(N, k_begin + k_slice);
    tc_gemm<false, false, TC_3XTF32>(out + (long long)blockIdx.z * OC * C, dout, inp, nullptr, OC, C, N, k_begin, k_end, accumulate != 0);
}

// dout (N,OC)^T inp (N,C) over the rows of slice z = blockIdx.z (rows z*k_slice.., k_slice a multiple of TC_BK),
// TF32: added into out (OC,C) when accumulate (one slice: out is dweight), else written to
// out + z*OC*C (out: the partial sums (slices, OC, C) that matmul_split_k_reduce adds up). Grid (ceil(C/TC_BN),
// ceil(OC/TC_BM), slices), TC_SHARED_BYTES.
extern "C" __global__ void __launch_bounds__(TC_THREADS)
matmul_backward_weight_tf32(float* __restrict__ out, const float* __restrict__ dout, const float* __restrict__ inp,
                             int N, int C, int OC, int k_slice, int accumulate)
{
    const int k_begin = blockIdx.z * k_slice, k_end = min(N, k_begin + k_slice);
    tc_gemm<false, false, TC_TF32>(out + (long long)blockIdx.z * OC * C, dout, inp, nullptr, OC, C, N, k_begin, k_end, accumulate != 0);
}

// dweight (count) += the sum over slices s = 0, 1, ... of partials (slices, count), in slice order (deterministic
// split-K: no atomics). Grid-stride.
extern "C" __global__ void __launch_bounds__(256)
matmul_split_k_reduce(float* __restrict__ dweight, const float* __restrict__ partials, int slices, long long count)
{
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
    {
        float sum = 0.0f;
        for (int s = 0; s < slices; s++) sum += partials[s * count + i];
        dweight[i] += sum;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Narrow tensor-core matmul: fewer than NARROW_COLS output columns (OC; the head's vocabulary of 5). A 64 x 64 tile
// would be mostly padding and too few blocks; these read the big operand once, straight from global memory into
// fragments (no shared-memory staging: each element is used by one warp), with the same mma and the same
// precisions as the tile kernels. Both are memory-bound, so both are also split over their reduction (deterministic
// split-K: partial sums per slice, added in slice order by a second kernel) until a launch has at least two waves of
// NARROW_BLOCKS_PER_SM blocks on the design target's 132 SMs (KSplit, TensorCoreGeometry.NarrowForwardSplit/WeightSplit).
// ---------------------------------------------------------------------------------------------------------

#define NARROW_COLS 32
#define NARROW_THREADS 128
#define NARROW_ROWS 16
#define NARROW_WEIGHT_COLS 32
// The most blocks of a narrow kernel resident on one SM of the design target (sm_90) as ptxas compiles them (the TF32
// weight gradient: 40 registers, 12 blocks of 128 threads): the wave size the splits aim at, so every narrow launch
// has at least two waves. A test checks it against ptxas's occupancy.
#define NARROW_BLOCKS_PER_SM 12
static_assert(NARROW_COLS == 4 * 8, "up to four n8 tiles (forward) or two m16 tiles (weight gradient) of output columns");
static_assert(NARROW_ROWS == 16, "the forward's block covers one m16 tile of rows");
static_assert(NARROW_WEIGHT_COLS == (NARROW_THREADS / WARP_SIZE) * 8, "the weight gradient's warps cover one n8 tile of columns each");

// out (N,OC) = inp (N,C) weight (OC,C)^T (+ bias (OC)), OC <= NARROW_COLS, over the columns of slice z = blockIdx.y
// (columns z*k_slice.., k_slice a multiple of 8): a block computes rows 16 x blockIdx.x.. with its 4 warps taking the
// k8 steps w, w + 4, w + 8, ... of its slice; the four partial 16 x OC tiles are then added in warp order. One slice
// (gridDim.y == 1): out gets the sum plus bias (bias may be null). Several: out + z*N*OC gets the slice's sum (the
// partials (slices, N, OC) that matmul_narrow_forward_reduce adds up). Grid (ceil(N/NARROW_ROWS), slices).
template <int PRECISION>
__device__ __forceinline__ void narrow_forward(float* __restrict__ out, const float* __restrict__ inp, const float* __restrict__ weight,
                                               const float* __restrict__ bias, int N, int C, int OC, int k_slice)
{
    constexpr int WARPS = NARROW_THREADS / WARP_SIZE;
    __shared__ float partial[WARPS][NARROW_ROWS][NARROW_COLS];
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE, g = lane / 4, t = lane % 4;
    const int row0 = blockIdx.x * NARROW_ROWS;
    const int k_begin = blockIdx.y * k_slice, k_end = min(C, k_begin + k_slice);
    const int n_tiles = (OC + 7) / 8;
    float acc[1][4][4];
#pragma unroll
    for (int j = 0; j < 4; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[0][j][e] = 0.0f;
    for (int k = k_begin + warp * 8; k < k_end; k += WARPS * 8)
    {
        unsigned a[1][4], b[4][2];
#pragma unroll
        for (int e = 0; e < 4; e++)
        {
            const int row = row0 + g + (e & 1) * 8, col = k + t + (e >> 1) * 4;
            a[0][e] = row < N && col < k_end ? __float_as_uint(inp[(long long)row * C + col]) : 0u;
        }
#pragma unroll
        for (int ni = 0; ni < 4; ni++)
#pragma unroll
            for (int e = 0; e < 2; e++)
            {
                const int o = ni * 8 + g, col = k + t + e * 4;
                b[ni][e] = o < OC && col < k_end ? __float_as_uint(weight[(long long)o * C + col]) : 0u;
            }
        tc_mma_tiles<PRECISION>(acc, a, b, 1, n_tiles);
    }
#pragma unroll
    for (int ni = 0; ni < 4; ni++)
#pragma unroll
        for (int e = 0; e < 4; e++) partial[warp][g + (e >> 1) * 8][ni * 8 + 2 * t + (e & 1)] = acc[0][ni][e];
    __syncthreads();
    const bool sliced = gridDim.y > 1;  // partial sums of this slice, without bias
    float* __restrict__ dst = sliced ? out + (long long)blockIdx.y * N * OC : out;
    for (int i = threadIdx.x; i < NARROW_ROWS * OC; i += NARROW_THREADS)
    {
        const int r = i / OC, o = i % OC, row = row0 + r;
        if (row >= N) continue;
        float v = 0.0f;
        for (int w = 0; w < WARPS; w++) v += partial[w][r][o];
        if (!sliced && bias != nullptr) v += bias[o];
        dst[(long long)row * OC + o] = v;
    }
}

// out (N,OC) = the sum over slices s = 0, 1, ... of partials (slices, N, OC), in slice order, + bias (OC) (bias may be
// null): the narrow forward's second step. Grid-stride.
extern "C" __global__ void __launch_bounds__(256)
matmul_narrow_forward_reduce(float* __restrict__ out, const float* __restrict__ partials, const float* __restrict__ bias,
                             int slices, long long count, int OC)
{
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
    {
        float v = 0.0f;
        for (int s = 0; s < slices; s++) v += partials[s * count + i];
        if (bias != nullptr) v += bias[i % OC];
        out[i] = v;
    }
}

// dout (N,OC)^T inp (N,C) for OC <= NARROW_COLS over the rows of slice z = blockIdx.y (rows z*k_slice.., k_slice a
// multiple of 8): added into out (OC,C) when accumulate (one slice: out is dweight), else written to out + z*OC*C
// (partial sums for matmul_split_k_reduce). Block x covers columns 32x..: warp w the 8 columns 32x + 8w.. (one n8
// tile; narrow, so that the short sum over N still spreads over enough blocks) and every output row (OC in up to two
// m16 tiles). Grid (ceil(C/NARROW_WEIGHT_COLS), slices).
template <int PRECISION>
__device__ __forceinline__ void narrow_backward_weight(float* __restrict__ out, const float* __restrict__ dout, const float* __restrict__ inp,
                                                       int N, int C, int OC, int k_slice, bool accumulate)
{
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE, g = lane / 4, t = lane % 4;
    const int col0 = blockIdx.x * NARROW_WEIGHT_COLS + warp * 8;
    const int k_begin = blockIdx.y * k_slice, k_end = min(N, k_begin + k_slice);
    const int m_tiles = (OC + 15) / 16;
    out += (long long)blockIdx.y * OC * C;
    float acc[2][1][4];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[i][0][e] = 0.0f;
    for (int k = k_begin; k < k_end; k += 8)
    {
        unsigned a[2][4], b[1][2];
#pragma unroll
        for (int mi = 0; mi < 2; mi++)
#pragma unroll
            for (int e = 0; e < 4; e++)  // A[o][n] = dout[n][o]
            {
                const int o = mi * 16 + g + (e & 1) * 8, n = k + t + (e >> 1) * 4;
                a[mi][e] = o < OC && n < k_end ? __float_as_uint(dout[(long long)n * OC + o]) : 0u;
            }
#pragma unroll
        for (int e = 0; e < 2; e++)  // B[n][col] = inp[n][col]
        {
            const int col = col0 + g, n = k + t + e * 4;
            b[0][e] = col < C && n < k_end ? __float_as_uint(inp[(long long)n * C + col]) : 0u;
        }
        tc_mma_tiles<PRECISION>(acc, a, b, m_tiles, 1);
    }
#pragma unroll
    for (int mi = 0; mi < 2; mi++)
#pragma unroll
        for (int e = 0; e < 4; e++)
        {
            const int o = mi * 16 + g + (e >> 1) * 8, col = col0 + 2 * t + (e & 1);
            if (o >= OC || col >= C) continue;
            float* p = out + (long long)o * C + col;
            *p = accumulate ? *p + acc[mi][0][e] : acc[mi][0][e];
        }
}

// out (N,OC) (or slice blockIdx.y's partial sums) = inp (N,C) weight (OC,C)^T + bias (OC), OC <= NARROW_COLS, 3xTF32
// (see narrow_forward). Grid (ceil(N/NARROW_ROWS), slices).
extern "C" __global__ void __launch_bounds__(NARROW_THREADS)
matmul_narrow_forward_3xtf32(float* __restrict__ out, const float* __restrict__ inp, const float* __restrict__ weight,
                            const float* __restrict__ bias, int N, int C, int OC, int k_slice)
{
    narrow_forward<TC_3XTF32>(out, inp, weight, bias, N, C, OC, k_slice);
}

// out (N,OC) (or slice blockIdx.y's partial sums) = inp (N,C) weight (OC,C)^T + bias (OC), OC <= NARROW_COLS, TF32
// (see narrow_forward). Grid (ceil(N/NARROW_ROWS), slices).
extern "C" __global__ void __launch_bounds__(NARROW_THREADS)
matmul_narrow_forward_tf32(float* __restrict__ out, const float* __restrict__ inp, const float* __restrict__ weight,
                            const float* __restrict__ bias, int N, int C, int OC, int k_slice)
{
    narrow_forward<TC_TF32>(out, inp, weight, bias, N, C, OC, k_slice);
}

// out (OC,C) (+)= dout (N,OC)^T inp (N,C) over slice blockIdx.y, OC <= NARROW_COLS, 3xTF32 (see narrow_backward_weight).
// Grid (ceil(C/NARROW_WEIGHT_COLS), slices).
extern "C" __global__ void __launch_bounds__(NARROW_THREADS)
matmul_narrow_backward_weight_3xtf32(float* __restrict__ out, const float* __restrict__ dout, const float* __restrict__ inp,
                                    int N, int C, int OC, int k_slice, int accumulate)
{
    narrow_backward_weight<TC_3XTF32>(out, dout, inp, N, C, OC, k_slice, accumulate != 0);
}

// out (OC,C) (+)= dout (N,OC)^T inp (N,C) over slice blockIdx.y, OC <= NARROW_COLS, TF32 (see narrow_backward_weight).
// Grid (ceil(C/NARROW_WEIGHT_COLS), slices).
extern "C" __global__ void __launch_bounds__(NARROW_THREADS)
matmul_narrow_backward_weight_tf32(float* __restrict__ out, const float* __restrict__ dout, const float* __restrict__ inp,
                                    int N, int C, int OC, int k_slice, int accumulate)
{
    narrow_backward_weight<TC_TF32>(out, dout, inp, N, C, OC, k_slice, accumulate != 0);
}

// ---------------------------------------------------------------------------------------------------------
// Utility: fill, fixed-order sum
// ---------------------------------------------------------------------------------------------------------

// x (n) = value
extern "C" __global__ void __launch_bounds__(256)
fill_value(float* __restrict__ x, long long n, float value)
{
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) x[i] = value;
}

#define SUM_THREADS 1024
static_assert(SUM_THREADS == WARP_SIZE * WARP_SIZE, "the per-warp sums of a block fill exactly one warp for the last step");
// out (1) = sum of inp (n): one block; thread k sums k, k+1024, ... in order, then a fixed tree. Deterministic.
extern "C" __global__ void __launch_bounds__(SUM_THREADS)
sum_forward(float* __restrict__ out, const float* __restrict__ inp, long long n)
{
    __shared__ float partial[SUM_THREADS / WARP_SIZE];
    float s = 0.0f;
    for (long long i = threadIdx.x; i < n; i += SUM_THREADS) s += inp[i];
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x < WARP_SIZE)
    {
        float v = partial[threadIdx.x];
        v = warp_sum(v);
        if (threadIdx.x == 0) out[0] = v;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Philox4x32-10 (Salmon et al.), identical to src/Kernels/Random/Philox.cs: dropout masks
// ---------------------------------------------------------------------------------------------------------

#define DROPOUT_DOMAIN 0x46464C4Du

// Word `index` of the stream (seed, stream, domain): lane index % 4 of the block at counter
// (index / 4, lo(stream), hi(stream), domain) under key (lo(seed), hi(seed)).
__device__ __forceinline__ unsigned int philox_word(unsigned long long seed, unsigned long long stream, unsigned int domain,
                                                    unsigned long long index)
{
    unsigned int c0 = (unsigned int)(index >> 2), c1 = (unsigned int)stream, c2 = (unsigned int)(stream >> 32), c3 = domain;
    unsigned int k0 = (unsigned int)seed, k1 = (unsigned int)(seed >> 32);
    for (int round = 0; round < 10; round++)
    {
        if (round > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
        unsigned long long p0 = (unsigned long long)0xD2511F53u * c0;
        unsigned long long p1 = (unsigned long long)0xCD9E8D57u * c2;
        unsigned int hi0 = (unsigned int)(p0 >> 32), lo0 = (unsigned int)p0;
        unsigned int hi1 = (unsigned int)(p1 >> 32), lo1 = (unsigned int)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    unsigned int lane = (unsigned int)(index & 3);
    return lane == 0 ? c0 : lane == 1 ? c1 : lane == 2 ? c2 : c3;
}

// True when element `index` of the dropout mask (p, seed, stream) is kept: the top 24 bits as a float in [0,1) >= p.
__device__ __forceinline__ bool dropout_keep(float p, unsigned long long seed, unsigned long long stream, unsigned long long index)
{
    return (float)(philox_word(seed, stream, DROPOUT_DOMAIN, index) >> 8) * (1.0f / 16777216.0f) >= p;
}

// out (n) = inp * keep / (1-p) (forward and backward alike; in place allowed)
extern "C" __global__ void __launch_bounds__(256)
dropout_forward(float* out, const float* inp, long long n, float p, unsigned long long seed, unsigned long long stream)
{
    const float scale = 1.0f / (1.0f - p);
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        out[i] = dropout_keep(p, seed, stream, (unsigned long long)i) ? inp[i] * scale : 0.0f;
}

// ---------------------------------------------------------------------------------------------------------
// Embeddings and position encodings
// ---------------------------------------------------------------------------------------------------------

// out (N,C) = table (V,C) [tokens (N)]
extern "C" __global__ void __launch_bounds__(256)
embedding_forward(float* __restrict__ out, const int* __restrict__ tokens, const float* __restrict__ table, int n, int c)
{
    const long long total = (long long)n * c, stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
        out[i] = table[(long long)tokens[i / c] * c + i % c];
}

#define EMBEDDING_CHUNK_ROWS 256
// partials (chunks, V, C) = dout (N,C) scattered by tokens (N) within chunks of EMBEDDING_CHUNK_ROWS rows: thread (chunk,
// j) owns column j of its chunk's (V, C) slice and adds the chunk's rows in order. Parallel over tokens, no atomics.
// Grid (ceil(C/256), chunks).
extern "C" __global__ void __launch_bounds__(256)
embedding_backward_partial(float* __restrict__ partials, const float* __restrict__ dout, const int* __restrict__ tokens, int n, int v, int c)
{
    const int j = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (j >= c) return;
    float* slice = partials + (long long)chunk * v * c;
    for (int row = 0; row < v; row++) slice[(long long)row * c + j] = 0.0f;
    const int first = chunk * EMBEDDING_CHUNK_ROWS, last = min(n, first + EMBEDDING_CHUNK_ROWS);
    for (int i = first; i < last; i++) slice[(long long)tokens[i] * c + j] += dout[(long long)i * c + j];
}

// dtable (V,C) += the sum over chunks of partials (chunks, V, C), in chunk order from 0. Grid-stride.
extern "C" __global__ void __launch_bounds__(256)
embedding_backward_reduce(float* __restrict__ dtable, const float* __restrict__ partials, int chunks, long long count)
{
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < count; i += stride)
    {
        float acc = 0.0f;
        for (int k = 0; k < chunks; k++) acc += partials[k * count + i];
        dtable[i] += acc;
    }
}

// x (B,T,C) += scale * table (>=T,C) [t]
extern "C" __global__ void __launch_bounds__(256)
position_add_forward(float* __restrict__ x, const float* __restrict__ table, float scale, int b, int t, int c)
{
    const long long total = (long long)b * t * c, stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
        x[i] += scale * table[i % ((long long)t * c)];
}

// dtable (T,C) += scale * sum over b of dx (B,T,C), b in order
extern "C" __global__ void __launch_bounds__(256)
position_add_backward(float* __restrict__ dtable, const float* __restrict__ dx, float scale, int b, int t, int c)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= t * c) return;
    float acc = 0.0f;
    for (int bi = 0; bi < b; bi++) acc += scale * dx[(long long)bi * t * c + idx];
    dtable[idx] += acc;
}

// sin and cos of a position angle in double precision without the library's large-argument path (which
// needs a stack frame): reduce to [-pi, pi], then Taylor series (terms to x^25: below 1e-16 there).
__device__ __forceinline__ void angle_sincos(double angle, double* sine, double* cosine)
{
    const double two_pi = 6.283185307179586476925;
    double r = angle - two_pi * rint(angle / two_pi);
    double r2 = r * r, s = 0.0, c = 0.0;
    for (int k = 13; k >= 1; k--)
    {
        s = 1.0 - r2 / ((2.0 * k) * (2.0 * k + 1.0)) * s;
        c = 1.0 - r2 / ((2.0 * k - 1.0) * (2.0 * k)) * c;
    }
    *sine = r * s;
    *cosine = c;
}

// table (T,C): row t = [sin(t f_i), cos(t f_i)], f_i = 10000^(-i/(C/2)); angles in double as on the CPU
extern "C" __global__ void __launch_bounds__(256)
sinusoidal_table(float* __restrict__ table, int t, int c)
{
    int half = c / 2;
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= t * c) return;
    int pos = idx / c, j = idx % c;
    if (j >= 2 * half) { table[idx] = 0.0f; return; }
    int i = j < half ? j : j - half;
    double sine, cosine;
    angle_sincos(pos * pow(10000.0, -(double)i / half), &sine, &cosine);
    table[idx] = (float)(j < half ? sine : cosine);
}

// x (B,T,C): x[b,t,C-1] += t / divisor
extern "C" __global__ void __launch_bounds__(256)
linear_position_forward(float* __restrict__ x, float divisor, int b, int t, int c)
{
    int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= b * t) return;
    x[(long long)row * c + c - 1] += (float)(row % t) / divisor;
}

// table (T, rot/2, 2) = [cos, sin] of the angle t*10000^(-2i/rot), i < rot/2, computed in double as on the CPU and
// rounded to float: built once per (T, rot) and kept by the host, so rope_rotate does no transcendental work.
extern "C" __global__ void __launch_bounds__(256)
rope_table(float* __restrict__ table, int t, int rot)
{
    const int half = rot / 2;
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= t * half) return;
    const int pos = idx / half, i = idx % half;
    double sine, cosine;
    angle_sincos(pos * pow(10000.0, -2.0 * i / rot), &sine, &cosine);
    table[2 * idx] = (float)cosine;
    table[2 * idx + 1] = (float)sine;
}

// qkv (B,T,3C): rotates the first `rot` dims of every head of q, k and, when parts == 3, v in place (parts == 2:
// q and k only) by the angles of table (>=T, rot/2, 2) (rope_table), pairing dims i and i + rot/2 (rotate-half
// form); dims rot..dh pass through. sign -1: the backward (the transpose rotation).
extern "C" __global__ void __launch_bounds__(256)
rope_rotate(float* __restrict__ qkv, const float* __restrict__ table, int b, int t, int c, int heads, int rot, int parts, float sign)
{
    int dh = c / heads, half = rot / 2;
    long long total = (long long)b * t * parts * heads * half;
    long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    int i = (int)(idx % half);
    long long rest = idx / half;
    int h = (int)(rest % heads); rest /= heads;
    int part = (int)(rest % parts);
    long long row = rest / parts;
    int pos = (int)(row % t);
    const float co = table[2 * (pos * half + i)], si = sign * table[2 * (pos * half + i) + 1];
    float* x = qkv + row * 3 * c + part * c + h * dh;
    float x1 = x[i], x2 = x[i + half];
    x[i] = x1 * co - x2 * si;
    x[i + half] = x2 * co + x1 * si;
}

// x (B,T,C) += scale[0] * table (>=T,C) [t]: the scaled sinusoidal embedding, its scale a parameter on the device
extern "C" __global__ void __launch_bounds__(256)
position_scale_forward(float* __restrict__ x, const float* __restrict__ table, const float* __restrict__ scale, int b, int t, int c)
{
    const float s = scale[0];
    const long long total = (long long)b * t * c, stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
        x[i] += s * table[i % ((long long)t * c)];
}

// dscale (1) += sum over (b, t, j) of dx (B,T,C) * table (>=T,C) [t, j]: one block; for each b in order, thread k
// sums the elements k, k+1024, ... of the (T,C) slice, then a fixed tree. Deterministic.
extern "C" __global__ void __launch_bounds__(SUM_THREADS)
position_scale_backward(float* __restrict__ dscale, const float* __restrict__ dx, const float* __restrict__ table, int b, int t, int c)
{
    __shared__ float partial[SUM_THREADS / WARP_SIZE];
    const long long tc = (long long)t * c;
    float s = 0.0f;
    for (int bi = 0; bi < b; bi++)
    {
        const float* slice = dx + bi * tc;
        for (long long i = threadIdx.x; i < tc; i += SUM_THREADS) s += slice[i] * table[i];
    }
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x < WARP_SIZE)
    {
        float v = warp_sum(partial[threadIdx.x]);
        if (threadIdx.x == 0) dscale[0] += v;
    }
}

// out (B,T,C) = [table (V,C-1) [tokens (B,T)], t / divisor]: the token embedding and the linear position as a
// coordinate of its own (Appendix C.3, v_t = [e_t, p_t])
extern "C" __global__ void __launch_bounds__(256)
linear_position_embedding_forward(float* __restrict__ out, const int* __restrict__ tokens, const float* __restrict__ table,
                                  float divisor, int b, int t, int c)
{
    const long long total = (long long)b * t * c, stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
    {
        long long row = i / c;
        int j = (int)(i % c);
        out[i] = j < c - 1 ? table[(long long)tokens[row] * (c - 1) + j] : (float)(row % t) / divisor;
    }
}

// dtable (V,C-1) += dout (N,C) [:, :C-1] scattered by tokens (N): thread (v, j) sums rows in order. No atomics.
extern "C" __global__ void __launch_bounds__(256)
linear_position_embedding_backward(float* __restrict__ dtable, const float* __restrict__ dout, const int* __restrict__ tokens,
                                   int n, int v, int c)
{
    int e = c - 1;
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= v * e) return;
    int row = idx / e, j = idx % e;
    float acc = 0.0f;
    for (int i = 0; i < n; i++)
        if (tokens[i] == row) acc += dout[(long long)i * c + j];
    dtable[idx] += acc;
}

// ---------------------------------------------------------------------------------------------------------
// Pointwise: GELU (exact erf), residual
// ---------------------------------------------------------------------------------------------------------

// out (n) = x Phi(x)
extern "C" __global__ void __launch_bounds__(256)
gelu_forward(float* __restrict__ out, const float* __restrict__ inp, long long n)
{
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    }
}

// dinp (n) = (Phi(x) + x phi(x)) dout (in place with dout allowed)
extern "C" __global__ void __launch_bounds__(256)
gelu_backward(float* dinp, const float* __restrict__ inp, const float* dout, long long n)
{
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
    {
        float x = inp[i];
        float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
        float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
        dinp[i] = (cdf + x * pdf) * dout[i];
    }
}

// out (n) = a + b
extern "C" __global__ void __launch_bounds__(256)
residual_forward(float* out, const float* a, const float* b, long long n)
{
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) out[i] = a[i] + b[i];
}

// ---------------------------------------------------------------------------------------------------------
// Loss and evaluation
// ---------------------------------------------------------------------------------------------------------

// losses (N), dlogits (N,V) (may be null), logits (N,V), targets (N; -1 = not scored): fused softmax cross-entropy
// and its gradient dscale * (softmax - onehot); zeros where not scored. One thread per row (V is small).
extern "C" __global__ void __launch_bounds__(256)
crossentropy_forward_backward(float* __restrict__ losses, float* __restrict__ dlogits, const float* __restrict__ logits,
                              const int* __restrict__ targets, float dscale, int n, int v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float* z = logits + (long long)i * v;
    float* dz = dlogits ? dlogits + (long long)i * v : 0;
    int target = targets[i];
    if (target < 0)
    {
        losses[i] = 0.0f;
        if (dz) for (int j = 0; j < v; j++) dz[j] = 0.0f;
        return;
    }
    float mx = z[0];
    for (int j = 1; j < v; j++) mx = fmaxf(mx, z[j]);
    float sum = 0.0f;
    for (int j = 0; j < v; j++) sum += expf(z[j] - mx);
    losses[i] = logf(sum) + mx - z[target];
    if (dz)
    {
        float inv = 1.0f / sum;
        for (int j = 0; j < v; j++) dz[j] = dscale * (expf(z[j] - mx) * inv - (j == target ? 1.0f : 0.0f));
    }
}

// predictions (N) = argmax of logits (N,V), the first maximum
extern "C" __global__ void __launch_bounds__(256)
argmax_forward(int* __restrict__ predictions, const float* __restrict__ logits, int n, int v)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const float* z = logits + (long long)i * v;
    int best = 0;
    for (int j = 1; j < v; j++) if (z[j] > z[best]) best = j;
    predictions[i] = best;
}

// On-device read errors: errors (N) = 1 at read positions whose argmax differs from the next token, else 0;
// per_sequence (B,2) = (reads, errors). tokens (B,T), logits (B,T,V). One warp per sequence.
extern "C" __global__ void __launch_bounds__(256)
read_errors_forward(int* __restrict__ errors, int* __restrict__ per_sequence, const int* __restrict__ tokens,
                    const float* __restrict__ logits, int b, int t, int v)
{
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    if (warp >= b) return;
    const int* seq = tokens + (long long)warp * t;
    int reads = 0, wrong = 0;
    for (int pos = lane; pos < t; pos += WARP_SIZE)
    {
        long long row = (long long)warp * t + pos;
        int error = 0;
        if ((pos & 1) == 0 && pos + 1 < t && seq[pos] == 1)
        {
            const float* z = logits + row * v;
            int best = 0;
            for (int j = 1; j < v; j++) if (z[j] > z[best]) best = j;
            error = best != seq[pos + 1];
            reads++;
            wrong += error;
        }
        errors[row] = error;
    }
    for (int offset = 16; offset > 0; offset >>= 1)
    {
        reads += __shfl_xor_sync(FULL_MASK, reads, offset);
        wrong += __shfl_xor_sync(FULL_MASK, wrong, offset);
    }
    if (lane == 0) { per_sequence[2 * warp] = reads; per_sequence[2 * warp + 1] = wrong; }
}

// ---------------------------------------------------------------------------------------------------------
// Causal multi-head attention, FlashAttention-2 style: online softmax over key tiles, O(T) extra memory,
// no T x T matrix. One warp per query row; the lanes of a warp split a key tile for the scores and the head
// dimension for the output. The backward recomputes the probabilities from the saved row statistics.
// saved (B,H,T,3) per row: logsumexp of the scores, mean score E[s] under the softmax (for the entropy),
// and D = dO . O (written by attention_backward_preprocess). The tiled kernels run on a grid
// (ceil(T/ATT_ROWS), B*H): blockIdx.y is the (batch, head) pair, so B is not one of their arguments.
// ---------------------------------------------------------------------------------------------------------

#define ATT_ROWS 4          // query (or key) rows per block: one warp each
#define ATT_THREADS 128          // ATT_ROWS warps
static_assert(ATT_THREADS == ATT_ROWS * WARP_SIZE, "one warp per attention row");
#define ATT_MAX_DH_PER_LANE 16  // head dimension up to 512

// acc += sum over the tile's rows jj of x_jj * rows[jj] (rows of stride ld), where lane jj holds x_jj and each lane
// accumulates the head-dimension elements lane + 32 r: the P.V product of the forward and the dS.K product of dq.
__device__ __forceinline__ void attention_accumulate_rows(float (&acc)[ATT_MAX_DH_PER_LANE], float x, const float* rows, int tile, int ld, int dh, int lane)
{
    for (int jj = 0; jj < tile; jj++)
    {
        float xj = __shfl_sync(FULL_MASK, x, jj);
        for (int r = 0; r < ATT_MAX_DH_PER_LANE; r++)
        {
            int d = lane + r * WARP_SIZE;
            if (d < dh) acc[r] += xj * rows[jj * ld + d];
        }
    }
}

// What an attention kernel derives for one (batch, head) pair bh = b * heads + h: the batch and head, the score scale
// 1/sqrt(dh) and the head's ALiBi slope (0 without ALiBi), both times 1/temperature (the softmax temperature), the dropout keep scale 1/(1-p), the row stride of qkv (B,T,3C)
// and the head's q columns of batch b (k and v follow at +C and +2C). (A larger struct, with warp and lane, made ptxas spill.)
struct AttentionHead { int bi, h; float scale, slope, keep_scale; long long row_stride; const float* base; };

__device__ __forceinline__ AttentionHead attention_head(int bh, const float* qkv, int t, int c, int heads, const float* alibi_slopes,
                                                        float inv_temperature, float p_drop)
{
    const int bi = bh / heads, h = bh % heads, dh = c / heads;
    const long long row_stride = 3LL * c;
    // 1/temperature scales the whole logit, q.k / sqrt(dh) - slope (i - j) (a product: a division here made the backward kernels spill)
    return { bi, h, rsqrtf((float)dh) * inv_temperature, alibi_slopes ? alibi_slopes[h] * inv_temperature : 0.0f, p_drop > 0.0f ? 1.0f / (1.0f - p_drop) : 1.0f,
             row_stride, qkv + (long long)bi * t * row_stride + h * dh };
}

// Shared tiles x and y (kt, ld) = rows first..first+kt-1 of two operands with dh columns (zero past row T-1);
// row r of x starts at x_rows + r * x_stride, of y at y_rows + r * y_stride. The whole block stages them.
__device__ __forceinline__ void attention_stage_tiles(float* x, const float* x_rows, long long x_stride, float* y, const float* y_rows,
                                                      long long y_stride, int first, int kt, int t, int dh, int ld)
{
    for (int e = threadIdx.x; e < kt * dh; e += ATT_THREADS)
    {
        int r = e / dh, d = e % dh, row = first + r;
        x[r * ld + d] = row < t ? x_rows[(long long)row * x_stride + d] : 0.0f;
        y[r * ld + d] = row < t ? y_rows[(long long)row * y_stride + d] : 0.0f;
    }
}

// The K and V tiles of keys first.. of this head into shared memory, between two block barriers (the first lets the
// previous tile's readers finish); used by the forward and by dq, which walk the same key tiles.
__device__ __forceinline__ void attention_load_kv(float* ks, float* vs, const float* base, int c, long long row_stride, int first, int kt, int t,
                                                  int dh, int ld)
{
    __syncthreads();
    attention_stage_tiles(ks, base + c, row_stride, vs, base + 2 * c, row_stride, first, kt, t, dh, ld);
    __syncthreads();
}

// score of query i against key j: q.k / sqrt(dh) - slope_h (i - j); alibi_slopes (H) is null without ALiBi.
// Shared memory layout of the forward: K tile (kt, dh+1), V tile (kt, dh+1), q rows (ATT_ROWS, dh).
// out (B,T,C), saved (B,H,T,3), qkv (B,T,3C); kt = keys per tile (<= 32), chosen by the host for shared memory.
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
attention_forward(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv,
                  int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, int kt,
                  float p_drop, unsigned long long seed, unsigned long long stream)
{
    extern __shared__ float smem[];
    const int dh = c / heads, ld = dh + 1;
    float *ks = smem, *vs = ks + kt * ld, *qs = vs + kt * ld;          // K tile, V tile (kt, ld); q rows (ATT_ROWS, dh)
    const int bh = blockIdx.y;
    const auto [bi, h, scale, slope, keep_scale, row_stride, base] = attention_head(bh, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop);
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    // this warp's query row, and the block's last
    const int i = (int)blockIdx.x * ATT_ROWS + warp, last_row = min(t - 1, (int)blockIdx.x * ATT_ROWS + ATT_ROWS - 1);
    float* q = qs + warp * dh;
    if (i < t)
        for (int d = lane; d < dh; d += WARP_SIZE) q[d] = base[(long long)i * row_stride + d];
    float acc[ATT_MAX_DH_PER_LANE] = {};
    float m = -3.0e38f, l = 0.0f, es = 0.0f;   // running max ("-inf"), sum of exp, sum of p*s
    for (int j0 = 0; j0 <= last_row; j0 += kt)
    {
        attention_load_kv(ks, vs, base, c, row_stride, j0, kt, t, dh, ld);
        if (i >= t || j0 > i) continue;
        const int j = j0 + lane;
        const bool valid = lane < kt && j <= i;
        float s = -3.0e38f;
        if (valid)
        {
            float dot = 0.0f;
            for (int d = 0; d < dh; d++) dot += q[d] * ks[lane * ld + d];
            s = dot * scale - slope * (float)(i - j);
        }
        float tile_max = s;
        for (int offset = 16; offset > 0; offset >>= 1) tile_max = fmaxf(tile_max, __shfl_xor_sync(FULL_MASK, tile_max, offset));
        const float m_new = fmaxf(m, tile_max);
        const float correction = expf(m - m_new);             // 0 on the first tile (m = -inf)
        const float p = valid ? expf(s - m_new) : 0.0f;
        l = l * correction + warp_sum(p);
        es = es * correction + warp_sum(valid ? p * s : 0.0f);
        float pd = p;
        if (p_drop > 0.0f && valid)
            pd = dropout_keep(p_drop, seed, stream, ((unsigned long long)bh * t + i) * t + j) ? p * keep_scale : 0.0f;
        for (int r = 0; r < ATT_MAX_DH_PER_LANE; r++) acc[r] *= correction;
        attention_accumulate_rows(acc, pd, vs, min(kt, i - j0 + 1), ld, dh, lane);
        m = m_new;
    }
    if (i >= t) return;
    const float inv = 1.0f / l;
    float* o = out + ((long long)bi * t + i) * c + h * dh;
    for (int r = 0; r < ATT_MAX_DH_PER_LANE; r++)
    {
        int d = lane + r * WARP_SIZE;
        if (d < dh) o[d] = acc[r] * inv;
    }
    if (lane == 0)
    {
        float* st = saved + ((long long)bh * t + i) * 3;
        st[0] = m + logf(l);
        st[1] = es * inv;
    }
}

// saved[...,2] = D_i = dO_i . O_i for every (b,h,i): one warp per row.
// saved (B,H,T,3), dout (B,T,C), out (B,T,C)
extern "C" __global__ void __launch_bounds__(256)
attention_backward_preprocess(float* __restrict__ saved, const float* __restrict__ dout, const float* __restrict__ out,
                              int b, int t, int c, int heads)
{
    int row = (blockIdx.x * blockDim.x + threadIdx.x) / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    if (row >= b * heads * t) return;
    int i = row % t, bh = row / t, bi = bh / heads, h = bh % heads, dh = c / heads;
    long long offset = ((long long)bi * t + i) * c + h * dh;
    float s = 0.0f;
    for (int d = lane; d < dh; d += WARP_SIZE) s += dout[offset + d] * out[offset + d];
    s = warp_sum(s);
    if (lane == 0) saved[(long long)row * 3 + 2] = s;
}

// Recomputed probability p_ij = exp(s_ij - logsumexp_i) and dS_ij = p_ij (dP_ij - D_i) - entropy_scale p_ij (s_ij - E_i)
// with dP_ij = kept_ij dO_i . v_j, kept_ij = keep/(1-p) or 0 (without the 1/sqrt(dh) of the scores).
__device__ __forceinline__ float attention_ds(float p, float mean_s, float s, float d_row, float dov, float kept, float entropy_scale)
{
    return p * (dov * kept - d_row) - entropy_scale * p * (s - mean_s);
}

// dq part of dqkv (B,T,3C) (overwritten): one warp per query row, loops over key tiles like the forward.
// Shared memory: K tile (kt, dh+1), V tile (kt, dh+1), q and dO rows (ATT_ROWS, 2*dh).
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
attention_backward_dq(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv,
                      const float* __restrict__ saved, float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, int kt,
                      float p_drop, unsigned long long seed, unsigned long long stream)
{
    extern __shared__ float smem[];
    const int dh = c / heads, ld = dh + 1;
    float *ks = smem, *vs = ks + kt * ld, *rows = vs + kt * ld;        // K tile, V tile (kt, ld); q and dO rows (ATT_ROWS, 2*dh)
    const int bh = blockIdx.y;
    const auto [bi, h, scale, slope, keep_scale, row_stride, base] = attention_head(bh, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop);
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    const int i = (int)blockIdx.x * ATT_ROWS + warp, last_row = min(t - 1, (int)blockIdx.x * ATT_ROWS + ATT_ROWS - 1);
    float* q = rows + warp * 2 * dh;
    float* dov = q + dh;
    float lse = 0.0f, mean_s = 0.0f, d_row = 0.0f;
    if (i < t)
    {
        for (int d = lane; d < dh; d += WARP_SIZE)
        {
            q[d] = base[(long long)i * row_stride + d];
            dov[d] = dout[((long long)bi * t + i) * c + h * dh + d];
        }
        const float* st = saved + ((long long)bh * t + i) * 3;
        lse = st[0]; mean_s = st[1]; d_row = st[2];
    }
    float acc[ATT_MAX_DH_PER_LANE] = {};
    for (int j0 = 0; j0 <= last_row; j0 += kt)
    {
        attention_load_kv(ks, vs, base, c, row_stride, j0, kt, t, dh, ld);
        if (i >= t || j0 > i) continue;
        const int j = j0 + lane;
        float ds = 0.0f;
        if (lane < kt && j <= i)
        {
            float dot = 0.0f, dv = 0.0f;
            for (int d = 0; d < dh; d++) { dot += q[d] * ks[lane * ld + d]; dv += dov[d] * vs[lane * ld + d]; }
            float s = dot * scale - slope * (float)(i - j);
            float kept = p_drop <= 0.0f || dropout_keep(p_drop, seed, stream, ((unsigned long long)bh * t + i) * t + j) ? keep_scale : 0.0f;
            ds = attention_ds(expf(s - lse), mean_s, s, d_row, dv, kept, entropy_scale) * scale;
        }
        attention_accumulate_rows(acc, ds, ks, min(kt, i - j0 + 1), ld, dh, lane);
    }
    if (i >= t) return;
    float* dq = dqkv + ((long long)bi * t + i) * row_stride + h * dh;
    for (int r = 0; r < ATT_MAX_DH_PER_LANE; r++)
    {
        int d = lane + r * WARP_SIZE;
        if (d < dh) dq[d] = acc[r];
    }
}

// dk and dv parts of dqkv (B,T,3C) (overwritten): one warp per key row j, looping over query tiles i >= j.
// Shared memory: Q tile (kt, dh+1), dO tile (kt, dh+1), k and v rows (ATT_ROWS, 2*dh), row stats (kt, 3).
extern "C" __global__ void __launch_bounds__(ATT_THREADS)
attention_backward_dkv(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
                       float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, int kt, float p_drop,
                       unsigned long long seed, unsigned long long stream)
{
    const int dh = c / heads, ld = dh + 1;
    extern __shared__ float smem[];
    // Q tile, dO tile (kt, ld); k and v rows (ATT_ROWS, 2*dh); row stats (kt, 3)
    float *qt = smem, *dot_ = qt + kt * ld, *rows = dot_ + kt * ld, *stats = rows + ATT_ROWS * 2 * dh;
    const int bh = blockIdx.y;
    const auto [bi, h, scale, slope, keep_scale, row_stride, base] = attention_head(bh, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop);
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    const int j = (int)blockIdx.x * ATT_ROWS + warp, first_key = (int)blockIdx.x * ATT_ROWS;   // this warp's key row, the block's first
    float* kr = rows + warp * 2 * dh;
    float* vr = kr + dh;
    if (j < t)
        for (int d = lane; d < dh; d += WARP_SIZE)
        {
            kr[d] = base[(long long)j * row_stride + c + d];
            vr[d] = base[(long long)j * row_stride + 2 * c + d];
        }
    float dk[ATT_MAX_DH_PER_LANE], dv[ATT_MAX_DH_PER_LANE];
    for (int r = 0; r < ATT_MAX_DH_PER_LANE; r++) { dk[r] = 0.0f; dv[r] = 0.0f; }
    for (int i0 = first_key; i0 < t; i0 += kt)
    {
        __syncthreads();
        attention_stage_tiles(qt, base, row_stride, dot_, dout + (long long)bi * t * c + h * dh, c, i0, kt, t, dh, ld);
        for (int e = threadIdx.x; e < kt * 3; e += ATT_THREADS)
        {
            int ii = e / 3, i = i0 + ii;
            stats[e] = i < t ? saved[((long long)bh * t + i) * 3 + e % 3] : 0.0f;
        }
        __syncthreads();
        if (j >= t) continue;
        const int i = i0 + lane;
        float ds = 0.0f, pd = 0.0f;
        if (lane < kt && i < t && i >= j)
        {
            float dot = 0.0f, dvv = 0.0f;
            for (int d = 0; d < dh; d++) { dot += qt[lane * ld + d] * kr[d]; dvv += dot_[lane * ld + d] * vr[d]; }
            float s = dot * scale - slope * (float)(i - j);
            float kept = p_drop <= 0.0f || dropout_keep(p_drop, seed, stream, ((unsigned long long)bh * t + i) * t + j) ? keep_scale : 0.0f;
            float p = expf(s - stats[lane * 3]);
            pd = p * kept;
            ds = attention_ds(p, stats[lane * 3 + 1], s, stats[lane * 3 + 2], dvv, kept, entropy_scale) * scale;
        }
        const int tile = min(kt, t - i0);
        for (int ii = 0; ii < tile; ii++)
        {
            float dsi = __shfl_sync(FULL_MASK, ds, ii);
            float pdi = __shfl_sync(FULL_MASK, pd, ii);
            for (int r = 0; r < ATT_MAX_DH_PER_LANE; r++)
            {
                int d = lane + r * WARP_SIZE;
                if (d < dh) { dk[r] += dsi * qt[ii * ld + d]; dv[r] += pdi * dot_[ii * ld + d]; }
            }
        }
    }
    if (j >= t) return;
    float* dkp = dqkv + ((long long)bi * t + j) * row_stride + c + h * dh;
    for (int r = 0; r < ATT_MAX_DH_PER_LANE; r++)
    {
        int d = lane + r * WARP_SIZE;
        if (d < dh) { dkp[d] = dk[r]; dkp[c + d] = dv[r]; }
    }
}

// output (1) = sum over the B*H*T rows of the entropy logsumexp - E[s]: one block, fixed order.
extern "C" __global__ void __launch_bounds__(SUM_THREADS)
attention_entropy_forward(float* __restrict__ out, const float* __restrict__ saved, long long rows)
{
    __shared__ float partial[SUM_THREADS / WARP_SIZE];
    float s = 0.0f;
    for (long long r = threadIdx.x; r < rows; r += SUM_THREADS) s += saved[r * 3] - saved[r * 3 + 1];
    s = warp_sum(s);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x < WARP_SIZE)
    {
        float v = warp_sum(partial[threadIdx.x]);
        if (threadIdx.x == 0) out[0] = v;
    }
}

// Analysis mode: probs (B,H,T,T) and, when scores is not null, scores (B,H,T,T); 0 above the diagonal.
// One warp per query row: scores, then the row softmax.
extern "C" __global__ void __launch_bounds__(256)
attention_probabilities(float* __restrict__ probs, float* __restrict__ scores, const float* __restrict__ qkv,
                        int b, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature)
{
    int row = (blockIdx.x * blockDim.x + threadIdx.x) / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    if (row >= b * heads * t) return;
    const int i = row % t, bh = row / t;
    const int dh = c / heads;
    const auto [bi, h, scale, slope, keep_scale, row_stride, base] = attention_head(bh, qkv, t, c, heads, alibi_slopes, inv_temperature, 0.0f);
    float* p = probs + (long long)row * t;
    float mx = -3.0e38f;
    for (int j = lane; j < t; j += WARP_SIZE)
    {
        float s = 0.0f;
        if (j <= i)
        {
            for (int d = 0; d < dh; d++) s += base[(long long)i * row_stride + d] * base[(long long)j * row_stride + c + d];
            s = s * scale - slope * (float)(i - j);
            mx = fmaxf(mx, s);
        }
        p[j] = s;
        if (scores) scores[(long long)row * t + j] = s;
    }
    for (int offset = 16; offset > 0; offset >>= 1) mx = fmaxf(mx, __shfl_xor_sync(FULL_MASK, mx, offset));
    float sum = 0.0f;
    for (int j = lane; j <= i; j += WARP_SIZE) { float e = expf(p[j] - mx); p[j] = e; sum += e; }
    sum = warp_sum(sum);
    float inv = 1.0f / sum;
    for (int j = lane; j < t; j += WARP_SIZE) p[j] = j <= i ? p[j] * inv : 0.0f;
}

// ---------------------------------------------------------------------------------------------------------
// Attention with a compile-time head dimension (FlashAttention-2 layout): template instances for d_h 16, 32, 64
// and 128 behind extern "C" names ending in _d<dh> (FP32 FFMA), _d<dh>_tf32 and _d<dh>_3xtf32 (tensor cores: one
// or three mma.m16n8k8 per product tile, the operands split as in tc_mma_tiles); other head dimensions use the
// generic kernels above. Same math, saved (B,H,T,3) layout and dropout element index as those.
// A block has ATT_TILE_THREADS = 4 warps and ATT_TILE_ROWS = 64 rows (query rows for the forward and dq, key rows
// for dkv), 16 per warp; the other operand streams through shared memory in ATT_TILE_KEYS-row stages, double-
// buffered with cp.async (the next stage is copied while this one is multiplied). Every product is a warp's
// 16 x n tile in the mma C/D fragment layout (lane 4g + t holds rows g and g + 8, columns 2t and 2t + 1 of each
// 8-column tile), whether the tensor cores or FFMAs compute it, so the softmax code is shared by all precisions.
// Row statistics (max, sum) live in registers, reduced over the 4 lanes of a row with two shuffles. Causal: a block
// stops at its last row's tile; a warp skips the tiles wholly above its rows (warp-uniform).
// Shared tiles are (rows, d_h) row-major with row stride d_h + ATT_PAD (= 4 mod 32 for d_h 32..128: the 8 rows of
// a fragment load fall in distinct banks); V of the forward, read with k = key, uses d_h + ATT_PAD_KN (= 8 mod 32).
// Every output element is a fixed-order sum, so results are bit-reproducible; no atomics.
// ---------------------------------------------------------------------------------------------------------

#define ATT_TILE_ROWS 64
#define ATT_TILE_KEYS 32
#define ATT_TILE_THREADS 128
#define ATT_PAD 4
#define ATT_PAD_KN 8
#define ATT_FP32 0   // precision codes: FP32 FFMA; TC_3XTF32 and TC_TF32 as the GEMMs
static_assert(ATT_TILE_THREADS == 4 * WARP_SIZE && ATT_TILE_ROWS == 4 * 16, "4 warps of 16 rows");
static_assert(ATT_TILE_ROWS % ATT_TILE_KEYS == 0 && ATT_TILE_KEYS % 16 == 0, "stages align with warps: a warp's rows never start inside a stage");

// acc (16 x 8NT, C layout) += A (16 x K) B (K x 8NT) for this warp. A: row r at a + r * lda, k contiguous. B: stored
// (n, k) (B[k][n] = b[n * ldb + k]) when B_NK, else (k, n) (B[k][n] = b[k * ldb + n]). All in shared memory, rows
// 16-byte aligned. FP32: FFMA in k order per element; tensor cores: k8 steps, n-tiles in chunks of 4 (the
// emulator's warp_sequence holds at most 32 mmas, and fewer split operands are live at once). In TF32 the operands
// are TF32 values already (att_round_rows, att_operand): rounded once where they are staged, not at every use.
template <int PRECISION, int NT, int K, bool B_NK>
__device__ __forceinline__ void att_warp_product(float (&acc)[NT][4], const float* a, int lda, const float* b, int ldb)
{
    const int lane = threadIdx.x % WARP_SIZE, g = lane / 4, t = lane % 4;
    static_assert(K % 8 == 0, "whole k8 steps");
    // The k loops stay rolled: unrolled, ptxas hoists the shared loads of every step and runs out of registers
    // next to dK and dV (d_h 128: 128 accumulator registers a thread); one step is already 4 to 48 mmas or 32 to 256 FFMAs.
    if (PRECISION == ATT_FP32)
    {
#pragma unroll 1
        for (int k = 0; k < K; k += 4)
        {
            const float4 a0 = *reinterpret_cast<const float4*>(a + g * lda + k);
            const float4 a1 = *reinterpret_cast<const float4*>(a + (g + 8) * lda + k);
            const float x0[4] = {a0.x, a0.y, a0.z, a0.w}, x1[4] = {a1.x, a1.y, a1.z, a1.w};
#pragma unroll
            for (int ni = 0; ni < NT; ni++)
            {
                const int col = ni * 8 + 2 * t;
                if (B_NK)
                {
                    const float4 b0 = *reinterpret_cast<const float4*>(b + col * ldb + k);
                    const float4 b1 = *reinterpret_cast<const float4*>(b + (col + 1) * ldb + k);
                    const float y0[4] = {b0.x, b0.y, b0.z, b0.w}, y1[4] = {b1.x, b1.y, b1.z, b1.w};
#pragma unroll
                    for (int q = 0; q < 4; q++)
                    {
                        acc[ni][0] = fmaf(x0[q], y0[q], acc[ni][0]);
                        acc[ni][1] = fmaf(x0[q], y1[q], acc[ni][1]);
                        acc[ni][2] = fmaf(x1[q], y0[q], acc[ni][2]);
                        acc[ni][3] = fmaf(x1[q], y1[q], acc[ni][3]);
                    }
                }
                else
                {
#pragma unroll
                    for (int q = 0; q < 4; q++)
                    {
                        const float2 y = *reinterpret_cast<const float2*>(b + (k + q) * ldb + col);
                        acc[ni][0] = fmaf(x0[q], y.x, acc[ni][0]);
                        acc[ni][1] = fmaf(x0[q], y.y, acc[ni][1]);
                        acc[ni][2] = fmaf(x1[q], y.x, acc[ni][2]);
                        acc[ni][3] = fmaf(x1[q], y.y, acc[ni][3]);
                    }
                }
            }
        }
    }
    else
    {
        constexpr int CHUNK = NT < 4 ? NT : 4;
        static_assert(NT % CHUNK == 0, "whole chunks");
#pragma unroll 1
        for (int kk = 0; kk < K; kk += 8)
        {
            const float av[4] = {a[g * lda + kk + t], a[(g + 8) * lda + kk + t], a[g * lda + kk + t + 4], a[(g + 8) * lda + kk + t + 4]};
            unsigned a_hi[4], a_lo[4];
#pragma unroll
            for (int j = 0; j < 4; j++)
            {
                a_hi[j] = PRECISION == TC_TF32 ? __float_as_uint(av[j]) : tf32_round(av[j]);  // TF32: staged rounded
                a_lo[j] = PRECISION == TC_3XTF32 ? tf32_round(av[j] - __uint_as_float(a_hi[j])) : 0u;
            }
#pragma unroll
            for (int n0 = 0; n0 < NT; n0 += CHUNK)
            {
                unsigned b_hi[CHUNK][2], b_lo[CHUNK][2];
#pragma unroll
                for (int ci = 0; ci < CHUNK; ci++)
                {
                    const int col = (n0 + ci) * 8 + g;
                    const float bv[2] = {B_NK ? b[col * ldb + kk + t] : b[(kk + t) * ldb + col],
                                         B_NK ? b[col * ldb + kk + t + 4] : b[(kk + t + 4) * ldb + col]};
#pragma unroll
                    for (int j = 0; j < 2; j++)
                    {
                        b_hi[ci][j] = PRECISION == TC_TF32 ? __float_as_uint(bv[j]) : tf32_round(bv[j]);
                        b_lo[ci][j] = PRECISION == TC_3XTF32 ? tf32_round(bv[j] - __uint_as_float(b_hi[ci][j])) : 0u;
                    }
                }
                warp_sequence sequence;
#pragma unroll
                for (int ci = 0; ci < CHUNK; ci++)
                {
                    if (PRECISION == TC_3XTF32)
                    {
                        sequence.mma(acc[n0 + ci], a_lo, b_hi[ci]);
                        sequence.mma(acc[n0 + ci], a_hi, b_lo[ci]);
                    }
                    sequence.mma(acc[n0 + ci], a_hi, b_hi[ci]);
                }
                sequence.issue();
            }
        }
    }
}

// ROWS rows first.. of a (T, DH) operand (row r at src + r * stride) into tile (ROWS, ld), zero past row T-1,
// asynchronously (the caller commits). vec: src is 16-byte aligned (its stride then is too: a multiple of 4).
template <int DH, int ROWS>
__device__ __forceinline__ void att_copy_rows(float* tile, int ld, const float* src, long long stride, int first, int t, bool vec)
{
    constexpr int CHUNKS = DH / 4;
    static_assert(DH % 4 == 0 && (ROWS * CHUNKS) % ATT_TILE_THREADS == 0, "16-byte chunks divide evenly among the threads");
#pragma unroll
    for (int n = 0; n < ROWS * CHUNKS / ATT_TILE_THREADS; n++)
    {
        const int e = threadIdx.x + n * ATT_TILE_THREADS, r = e / CHUNKS, q = e % CHUNKS * 4;
        const bool inside = first + r < t;
        const float* s = inside ? src + (long long)(first + r) * stride + q : src;
        if (vec)
            cp_async_16(tile + r * ld + q, s, inside);
        else
        {
#pragma unroll
            for (int j = 0; j < 4; j++) cp_async_4(tile + r * ld + q + j, inside ? s + j : src, inside);
        }
    }
}

// TF32: rounds in place the chunks of tile (ROWS, DH) that this thread copied with att_copy_rows<DH, ROWS>, after its
// copies have landed and before the barrier that shows them to the block (no barrier of its own).
template <int DH, int ROWS>
__device__ __forceinline__ void att_round_rows(float* tile, int ld)
{
    constexpr int CHUNKS = DH / 4;
#pragma unroll
    for (int n = 0; n < ROWS * CHUNKS / ATT_TILE_THREADS; n++)
    {
        const int e = threadIdx.x + n * ATT_TILE_THREADS, r = e / CHUNKS, q = e % CHUNKS * 4;
        float4* p = reinterpret_cast<float4*>(tile + r * ld + q);
        const float4 v = *p;
        *p = make_float4(__uint_as_float(tf32_round(v.x)), __uint_as_float(tf32_round(v.y)), __uint_as_float(tf32_round(v.z)),
                         __uint_as_float(tf32_round(v.w)));
    }
}

// x as the kernels store a computed operand (P, dS) for a product in PRECISION: TF32-rounded in TF32, else as it is.
template <int PRECISION>
__device__ __forceinline__ float att_operand(float x)
{
    return PRECISION == TC_TF32 ? __uint_as_float(tf32_round(x)) : x;
}

// The max over the 4 lanes that hold a row of a C-layout tile (lanes 4g..4g+3), and the sum likewise.
__device__ __forceinline__ float quad_max(float v)
{
    v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, 1));
    return fmaxf(v, __shfl_xor_sync(FULL_MASK, v, 2));
}
__device__ __forceinline__ float quad_sum(float v)
{
    v += __shfl_xor_sync(FULL_MASK, v, 1);
    return v + __shfl_xor_sync(FULL_MASK, v, 2);
}

// Bit 4 ni + e: whether element e of n-tile ni of this lane's C-layout tile (rows row0 + g, + 8; columns col0 + 8 ni + 2t, + 1)
// survives the dropout mask, element (i, j) of head pair bh being mask element (bh T + i) T + j as in the generic kernels;
// rows are keys and columns queries when KEY_ROWS. A rolled loop around one Philox call site: unrolled per element,
// ptxas stops inlining it and the calls cost spills.
template <int NT, bool KEY_ROWS>
__device__ __forceinline__ unsigned att_keep_bits(float p_drop, unsigned long long seed, unsigned long long stream, int bh, int t, int row0, int col0)
{
    static_assert(NT * 4 <= 32, "one bit per element");
    const int lane = threadIdx.x % WARP_SIZE, g = lane / 4, t4 = lane % 4;
    unsigned bits = 0;
#pragma unroll 1
    for (int n = 0; n < NT * 4; n++)
    {
        const int row = row0 + g + (n % 4) / 2 * 8, col = col0 + n / 4 * 8 + 2 * t4 + n % 2;
        const int i = KEY_ROWS ? col : row, j = KEY_ROWS ? row : col;
        if (dropout_keep(p_drop, seed, stream, ((unsigned long long)bh * t + i) * t + j)) bits |= 1u << n;
    }
    return bits;
}

// Forward, query rows 64 blockIdx.x.. of head pair blockIdx.y. Shared memory (floats): Q (64, DH+4), K (2, 32, DH+4),
// V (2, 32, DH+8), P (4 warps, 16, 36): 4 (64 (DH+4) + 64 (DH+4) + 64 (DH+8) + 2304) bytes (AttentionGeometry).
template <int DH, int PRECISION>
__device__ __forceinline__ void attention_forward_tiled(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv,
                                                        int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature,
                                                        float p_drop, unsigned long long seed, unsigned long long stream)
{
    constexpr int LD = DH + ATT_PAD, LDV = DH + ATT_PAD_KN, LDP = ATT_TILE_KEYS + ATT_PAD, NS = ATT_TILE_KEYS / 8, NO = DH / 8;
    extern __shared__ __align__(16) float att_shared[];
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE, g = lane / 4, t4 = lane % 4;
    float* qs = att_shared;                                     // (64, LD)
    float* ks = qs + ATT_TILE_ROWS * LD;                        // (2, 32, LD)
    float* vs = ks + 2 * ATT_TILE_KEYS * LD;                    // (2, 32, LDV)
    float* ps = vs + 2 * ATT_TILE_KEYS * LDV + warp * 16 * LDP; // this warp's (16, LDP)
    const int bh = blockIdx.y;
    const auto [bi, h, scale, slope, keep_scale, row_stride, base] = attention_head(bh, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop);
    const int q0 = (int)blockIdx.x * ATT_TILE_ROWS, row0 = q0 + warp * 16;
    const int tiles = min(t - 1, q0 + ATT_TILE_ROWS - 1) / ATT_TILE_KEYS + 1;
    const bool vec = aligned16(qkv);
    att_copy_rows<DH, ATT_TILE_ROWS>(qs, LD, base, row_stride, q0, t, vec);
    att_copy_rows<DH, ATT_TILE_KEYS>(ks, LD, base + c, row_stride, 0, t, vec);
    att_copy_rows<DH, ATT_TILE_KEYS>(vs, LDV, base + 2 * c, row_stride, 0, t, vec);
    cp_async_commit();

    float o[NO][4];
#pragma unroll
    for (int ni = 0; ni < NO; ni++) o[ni][0] = o[ni][1] = o[ni][2] = o[ni][3] = 0.0f;
    // per row half (rows g, g + 8): running max ("-inf"), this lane's sums of exp and of p*s
    float m[2] = {-3.0e38f, -3.0e38f}, l[2] = {0.0f, 0.0f}, es[2] = {0.0f, 0.0f};
    for (int kb = 0; kb < tiles; kb++)
    {
        const int stage = kb & 1;
        if (kb + 1 < tiles)
        {
            att_copy_rows<DH, ATT_TILE_KEYS>(ks + (stage ^ 1) * ATT_TILE_KEYS * LD, LD, base + c, row_stride, (kb + 1) * ATT_TILE_KEYS, t, vec);
            att_copy_rows<DH, ATT_TILE_KEYS>(vs + (stage ^ 1) * ATT_TILE_KEYS * LDV, LDV, base + 2 * c, row_stride, (kb + 1) * ATT_TILE_KEYS, t, vec);
        }
        cp_async_commit();
        cp_async_wait<1>();   // this thread's copies of tile kb have landed ...
        if (PRECISION == TC_TF32)
        {
            if (kb == 0) att_round_rows<DH, ATT_TILE_ROWS>(qs, LD);
            att_round_rows<DH, ATT_TILE_KEYS>(ks + stage * ATT_TILE_KEYS * LD, LD);
            att_round_rows<DH, ATT_TILE_KEYS>(vs + stage * ATT_TILE_KEYS * LDV, LDV);
        }
        __syncthreads();      // ... and everyone's
        const int j0 = kb * ATT_TILE_KEYS;
        if (j0 <= row0 + 15)  // warp-uniform causal skip
        {
            float s[NS][4];
#pragma unroll
            for (int ni = 0; ni < NS; ni++) s[ni][0] = s[ni][1] = s[ni][2] = s[ni][3] = 0.0f;
            att_warp_product<PRECISION, NS, DH, true>(s, qs + warp * 16 * LD, LD, ks + stage * ATT_TILE_KEYS * LD, LD);
            float mx[2] = {m[0], m[1]};
#pragma unroll
            for (int ni = 0; ni < NS; ni++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                {
                    const int i = row0 + g + (e / 2) * 8, j = j0 + ni * 8 + 2 * t4 + e % 2;
                    s[ni][e] = j <= i ? s[ni][e] * scale - slope * (float)(i - j) : -3.0e38f;
                    mx[e / 2] = fmaxf(mx[e / 2], s[ni][e]);
                }
            const unsigned keep = p_drop > 0.0f ? att_keep_bits<NS, false>(p_drop, seed, stream, bh, t, row0, j0) : ~0u;
            float correction[2];
#pragma unroll
            for (int r = 0; r < 2; r++)
            {
                mx[r] = quad_max(mx[r]);
                correction[r] = expf(m[r] - mx[r]);  // 0 on the first tile (m = "-inf")
                l[r] *= correction[r];
                es[r] *= correction[r];
                m[r] = mx[r];
            }
#pragma unroll
            for (int ni = 0; ni < NS; ni++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                {
                    const int r = e / 2, i = row0 + g + r * 8, j = j0 + ni * 8 + 2 * t4 + e % 2;
                    float p = 0.0f, pd = 0.0f;
                    if (j <= i)
                    {
                        p = expf(s[ni][e] - m[r]);
                        l[r] += p;
                        es[r] += p * s[ni][e];
                        pd = keep >> (ni * 4 + e) & 1u ? p * keep_scale : 0.0f;  // keep_scale 1 without dropout: p itself
                    }
                    ps[(g + r * 8) * LDP + ni * 8 + 2 * t4 + e % 2] = att_operand<PRECISION>(pd);
                }
#pragma unroll
            for (int ni = 0; ni < NO; ni++)
#pragma unroll
                for (int e = 0; e < 4; e++) o[ni][e] *= correction[e / 2];
            __syncwarp();  // P written by the whole warp before it is read as an operand
            att_warp_product<PRECISION, NO, ATT_TILE_KEYS, false>(o, ps, LDP, vs + stage * ATT_TILE_KEYS * LDV, LDV);
        }
        __syncthreads();  // everyone is done with this stage before tile kb + 2 refills it
    }
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        const int i = row0 + g + r * 8;
        const float sum = quad_sum(l[r]), inv = 1.0f / sum, mean_s = quad_sum(es[r]) * inv;
        if (i >= t) continue;
        float* orow = out + ((long long)bi * t + i) * c + h * DH;
#pragma unroll
        for (int ni = 0; ni < NO; ni++)
            *reinterpret_cast<float2*>(orow + ni * 8 + 2 * t4) = make_float2(o[ni][2 * r] * inv, o[ni][2 * r + 1] * inv);
        if (t4 == 0)
        {
            float* st = saved + ((long long)bh * t + i) * 3;
            st[0] = m[r] + logf(sum);
            st[1] = mean_s;
        }
    }
}

// dq, query rows 64 blockIdx.x.. of head pair blockIdx.y: S = Q K^T and dP = dO V^T per key tile, dS from the saved
// row statistics, dQ += dS K. Shared memory (floats): Q, dO (64, DH+4) each, K, V (2, 32, DH+4) each, dS (4, 16, 36).
template <int DH, int PRECISION>
__device__ __forceinline__ void attention_backward_dq_tiled(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv,
                                                            const float* __restrict__ saved, float entropy_scale, int t, int c, int heads,
                                                            const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
                                                            unsigned long long seed, unsigned long long stream)
{
    constexpr int LD = DH + ATT_PAD, LDP = ATT_TILE_KEYS + ATT_PAD, NS = ATT_TILE_KEYS / 8, NO = DH / 8;
    extern __shared__ __align__(16) float att_shared[];
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE, g = lane / 4, t4 = lane % 4;
    float* qs = att_shared;                                      // (64, LD)
    float* dos = qs + ATT_TILE_ROWS * LD;                        // (64, LD)
    float* ks = dos + ATT_TILE_ROWS * LD;                        // (2, 32, LD)
    float* vs = ks + 2 * ATT_TILE_KEYS * LD;                     // (2, 32, LD)
    float* dss = vs + 2 * ATT_TILE_KEYS * LD + warp * 16 * LDP;  // this warp's (16, LDP)
    const int bh = blockIdx.y;
    const auto [bi, h, scale, slope, keep_scale, row_stride, base] = attention_head(bh, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop);
    const int q0 = (int)blockIdx.x * ATT_TILE_ROWS, row0 = q0 + warp * 16;
    const int tiles = min(t - 1, q0 + ATT_TILE_ROWS - 1) / ATT_TILE_KEYS + 1;
    const bool vec = aligned16(qkv) && aligned16(dout);
    const float* dout_head = dout + (long long)bi * t * c + h * DH;
    att_copy_rows<DH, ATT_TILE_ROWS>(qs, LD, base, row_stride, q0, t, vec);
    att_copy_rows<DH, ATT_TILE_ROWS>(dos, LD, dout_head, c, q0, t, vec);
    att_copy_rows<DH, ATT_TILE_KEYS>(ks, LD, base + c, row_stride, 0, t, vec);
    att_copy_rows<DH, ATT_TILE_KEYS>(vs, LD, base + 2 * c, row_stride, 0, t, vec);
    cp_async_commit();
    float lse[2], mean_s[2], d_row[2];  // rows g and g + 8
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        const int i = row0 + g + r * 8;
        const float* st = saved + ((long long)bh * t + min(i, t - 1)) * 3;
        lse[r] = st[0]; mean_s[r] = st[1]; d_row[r] = st[2];
    }
    float dq[NO][4];
#pragma unroll
    for (int ni = 0; ni < NO; ni++) dq[ni][0] = dq[ni][1] = dq[ni][2] = dq[ni][3] = 0.0f;
    for (int kb = 0; kb < tiles; kb++)
    {
        const int stage = kb & 1;
        if (kb + 1 < tiles)
        {
            att_copy_rows<DH, ATT_TILE_KEYS>(ks + (stage ^ 1) * ATT_TILE_KEYS * LD, LD, base + c, row_stride, (kb + 1) * ATT_TILE_KEYS, t, vec);
            att_copy_rows<DH, ATT_TILE_KEYS>(vs + (stage ^ 1) * ATT_TILE_KEYS * LD, LD, base + 2 * c, row_stride, (kb + 1) * ATT_TILE_KEYS, t, vec);
        }
        cp_async_commit();
        cp_async_wait<1>();
        if (PRECISION == TC_TF32)
        {
            if (kb == 0)
            {
                att_round_rows<DH, ATT_TILE_ROWS>(qs, LD);
                att_round_rows<DH, ATT_TILE_ROWS>(dos, LD);
            }
            att_round_rows<DH, ATT_TILE_KEYS>(ks + stage * ATT_TILE_KEYS * LD, LD);
            att_round_rows<DH, ATT_TILE_KEYS>(vs + stage * ATT_TILE_KEYS * LD, LD);
        }
        __syncthreads();
        const int j0 = kb * ATT_TILE_KEYS;
        if (j0 <= row0 + 15)
        {
            const float* kt = ks + stage * ATT_TILE_KEYS * LD;
            float s[NS][4], dp[NS][4];
#pragma unroll
            for (int ni = 0; ni < NS; ni++)
#pragma unroll
                for (int e = 0; e < 4; e++) s[ni][e] = dp[ni][e] = 0.0f;
            att_warp_product<PRECISION, NS, DH, true>(s, qs + warp * 16 * LD, LD, kt, LD);
            att_warp_product<PRECISION, NS, DH, true>(dp, dos + warp * 16 * LD, LD, vs + stage * ATT_TILE_KEYS * LD, LD);
            const unsigned keep = p_drop > 0.0f ? att_keep_bits<NS, false>(p_drop, seed, stream, bh, t, row0, j0) : ~0u;
#pragma unroll
            for (int ni = 0; ni < NS; ni++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                {
                    const int r = e / 2, i = row0 + g + r * 8, j = j0 + ni * 8 + 2 * t4 + e % 2;
                    float ds = 0.0f;
                    if (j <= i && i < t)
                    {
                        const float sc = s[ni][e] * scale - slope * (float)(i - j);
                        const float kept = keep >> (ni * 4 + e) & 1u ? keep_scale : 0.0f;
                        ds = attention_ds(expf(sc - lse[r]), mean_s[r], sc, d_row[r], dp[ni][e], kept, entropy_scale) * scale;
                    }
                    dss[(g + r * 8) * LDP + ni * 8 + 2 * t4 + e % 2] = att_operand<PRECISION>(ds);
                }
            __syncwarp();
            att_warp_product<PRECISION, NO, ATT_TILE_KEYS, false>(dq, dss, LDP, kt, LD);
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        const int i = row0 + g + r * 8;
        if (i >= t) continue;
        float* dqrow = dqkv + ((long long)bi * t + i) * row_stride + h * DH;
#pragma unroll
        for (int ni = 0; ni < NO; ni++) *reinterpret_cast<float2*>(dqrow + ni * 8 + 2 * t4) = make_float2(dq[ni][2 * r], dq[ni][2 * r + 1]);
    }
}

// dkv's stage of query tile i0: Q and dO rows into qs, dos (32, DH+4) and their statistics (lse, E[s], D) into stats (32, 3).
template <int DH>
__device__ __forceinline__ void att_copy_queries(float* qs, float* dos, float* stats, const float* q_rows, long long q_stride, const float* dout_rows,
                                                 int c, const float* saved_head, int i0, int t, bool vec)
{
    att_copy_rows<DH, ATT_TILE_KEYS>(qs, DH + ATT_PAD, q_rows, q_stride, i0, t, vec);
    att_copy_rows<DH, ATT_TILE_KEYS>(dos, DH + ATT_PAD, dout_rows, c, i0, t, vec);
    for (int e = threadIdx.x; e < ATT_TILE_KEYS * 3; e += ATT_TILE_THREADS)
    {
        const bool inside = i0 + e / 3 < t;
        cp_async_4(stats + e, inside ? saved_head + (long long)i0 * 3 + e : saved_head, inside);
    }
}

// dk and dv, key rows 64 blockIdx.x.. of head pair blockIdx.y, over the query tiles from the block's first key on:
// S^T = K Q^T and dP^T = V dO^T, P^T and dS^T from the saved row statistics, dV += P^T dO and dK += dS^T Q. Shared
// memory (floats): K, V (64, DH+4) each, Q, dO (2, 32, DH+4) each, row statistics (2, 32, 3), P^T and dS^T (4, 16, 36) each.
template <int DH, int PRECISION>
__device__ __forceinline__ void attention_backward_dkv_tiled(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv,
                                                             const float* __restrict__ saved, float entropy_scale, int t, int c, int heads,
                                                             const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
                                                             unsigned long long seed, unsigned long long stream)
{
    constexpr int LD = DH + ATT_PAD, LDP = ATT_TILE_KEYS + ATT_PAD, NS = ATT_TILE_KEYS / 8, NO = DH / 8, ST = ATT_TILE_KEYS * 3;
    extern __shared__ __align__(16) float att_shared[];
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE, g = lane / 4, t4 = lane % 4;
    float* ks = att_shared;                              // (64, LD)
    float* vs = ks + ATT_TILE_ROWS * LD;                 // (64, LD)
    float* qs = vs + ATT_TILE_ROWS * LD;                 // (2, 32, LD)
    float* dos = qs + 2 * ATT_TILE_KEYS * LD;            // (2, 32, LD)
    float* stats = dos + 2 * ATT_TILE_KEYS * LD;         // (2, 32, 3)
    float* pts = stats + 2 * ST + warp * 2 * 16 * LDP;   // this warp's P^T (16, LDP), then dS^T (16, LDP)
    float* dsts = pts + 16 * LDP;
    static_assert(ST % 4 == 0, "the tiles after the statistics stay 16-byte aligned");
    const int bh = blockIdx.y;
    const auto [bi, h, scale, slope, keep_scale, row_stride, base] = attention_head(bh, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop);
    const int k0 = (int)blockIdx.x * ATT_TILE_ROWS, key0 = k0 + warp * 16;
    const int tiles = (t - k0 + ATT_TILE_KEYS - 1) / ATT_TILE_KEYS;  // query tiles k0.., k0 a multiple of ATT_TILE_KEYS
    const bool vec = aligned16(qkv) && aligned16(dout);
    const float* dout_head = dout + (long long)bi * t * c + h * DH;
    const float* saved_head = saved + (long long)bh * t * 3;
    att_copy_rows<DH, ATT_TILE_ROWS>(ks, LD, base + c, row_stride, k0, t, vec);
    att_copy_rows<DH, ATT_TILE_ROWS>(vs, LD, base + 2 * c, row_stride, k0, t, vec);
    att_copy_queries<DH>(qs, dos, stats, base, row_stride, dout_head, c, saved_head, k0, t, vec);
    cp_async_commit();
    float dk[NO][4], dv[NO][4];
#pragma unroll
    for (int ni = 0; ni < NO; ni++)
#pragma unroll
        for (int e = 0; e < 4; e++) dk[ni][e] = dv[ni][e] = 0.0f;
    for (int qb = 0; qb < tiles; qb++)
    {
        const int stage = qb & 1, i0 = k0 + qb * ATT_TILE_KEYS;
        if (qb + 1 < tiles)
            att_copy_queries<DH>(qs + (stage ^ 1) * ATT_TILE_KEYS * (DH + ATT_PAD), dos + (stage ^ 1) * ATT_TILE_KEYS * (DH + ATT_PAD), stats + (stage ^ 1) * ST,
                                 base, row_stride, dout_head, c, saved_head, i0 + ATT_TILE_KEYS, t, vec);
        cp_async_commit();
        cp_async_wait<1>();
        if (PRECISION == TC_TF32)
        {
            if (qb == 0)
            {
                att_round_rows<DH, ATT_TILE_ROWS>(ks, LD);
                att_round_rows<DH, ATT_TILE_ROWS>(vs, LD);
            }
            att_round_rows<DH, ATT_TILE_KEYS>(qs + stage * ATT_TILE_KEYS * LD, LD);
            att_round_rows<DH, ATT_TILE_KEYS>(dos + stage * ATT_TILE_KEYS * LD, LD);
        }
        __syncthreads();
        if (i0 + ATT_TILE_KEYS - 1 >= key0)  // warp-uniform causal skip: some query of the tile sees some key of the warp
        {
            const float* qt = qs + stage * ATT_TILE_KEYS * LD;
            const float* dot = dos + stage * ATT_TILE_KEYS * LD;
            const float* st = stats + stage * ST;
            float s[NS][4], dp[NS][4];
#pragma unroll
            for (int ni = 0; ni < NS; ni++)
#pragma unroll
                for (int e = 0; e < 4; e++) s[ni][e] = dp[ni][e] = 0.0f;
            att_warp_product<PRECISION, NS, DH, true>(s, ks + warp * 16 * LD, LD, qt, LD);
            att_warp_product<PRECISION, NS, DH, true>(dp, vs + warp * 16 * LD, LD, dot, LD);
            const unsigned keep = p_drop > 0.0f ? att_keep_bits<NS, true>(p_drop, seed, stream, bh, t, key0, i0) : ~0u;
#pragma unroll
            for (int ni = 0; ni < NS; ni++)
#pragma unroll
                for (int e = 0; e < 4; e++)
                {
                    const int r = e / 2, ii = ni * 8 + 2 * t4 + e % 2, i = i0 + ii, j = key0 + g + r * 8;
                    float pd = 0.0f, ds = 0.0f;
                    if (i >= j && i < t)
                    {
                        const float sc = s[ni][e] * scale - slope * (float)(i - j);
                        const float kept = keep >> (ni * 4 + e) & 1u ? keep_scale : 0.0f;
                        const float p = expf(sc - st[ii * 3]);
                        pd = p * kept;
                        ds = attention_ds(p, st[ii * 3 + 1], sc, st[ii * 3 + 2], dp[ni][e], kept, entropy_scale) * scale;
                    }
                    pts[(g + r * 8) * LDP + ii] = att_operand<PRECISION>(pd);
                    dsts[(g + r * 8) * LDP + ii] = att_operand<PRECISION>(ds);
                }
            __syncwarp();
            att_warp_product<PRECISION, NO, ATT_TILE_KEYS, false>(dv, pts, LDP, dot, LD);
            att_warp_product<PRECISION, NO, ATT_TILE_KEYS, false>(dk, dsts, LDP, qt, LD);
        }
        __syncthreads();
    }
#pragma unroll
    for (int r = 0; r < 2; r++)
    {
        const int j = key0 + g + r * 8;
        if (j >= t) continue;
        float* dkrow = dqkv + ((long long)bi * t + j) * row_stride + c + h * DH;
#pragma unroll
        for (int ni = 0; ni < NO; ni++)
        {
            *reinterpret_cast<float2*>(dkrow + ni * 8 + 2 * t4) = make_float2(dk[ni][2 * r], dk[ni][2 * r + 1]);
            *reinterpret_cast<float2*>(dkrow + c + ni * 8 + 2 * t4) = make_float2(dv[ni][2 * r], dv[ni][2 * r + 1]);
        }
    }
}


// The instances. Their parameter lists are spelled out: NVRTC 11.8 crashes (SIGSEGV) on kernels whose parameter list
// comes from a macro, and KernelSource reads each entry point's name and block size from the text.

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 16, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d16(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<16, ATT_FP32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 16, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d16_tf32(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<16, TC_TF32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 16, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d16_3xtf32(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<16, TC_3XTF32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 32, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d32(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<32, ATT_FP32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 32, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d32_tf32(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<32, TC_TF32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 32, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d32_3xtf32(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<32, TC_3XTF32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 64, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d64(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<64, ATT_FP32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 64, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d64_tf32(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<64, TC_TF32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 64, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d64_3xtf32(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<64, TC_3XTF32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 128, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d128(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<128, ATT_FP32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 128, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d128_tf32(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<128, TC_TF32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// out (B,T,C), saved (B,H,T,3) [lse, E[s]] from qkv (B,T,3C); d_h 128, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_forward_d128_3xtf32(float* __restrict__ out, float* __restrict__ saved, const float* __restrict__ qkv, int t, int c, int heads,
    const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop, unsigned long long seed, unsigned long long stream)
{
    attention_forward_tiled<128, TC_3XTF32>(out, saved, qkv, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 16, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d16(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<16, ATT_FP32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 16, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d16_tf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<16, TC_TF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 16, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d16_3xtf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<16, TC_3XTF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 32, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<32, ATT_FP32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 32, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d32_tf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<32, TC_TF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 32, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d32_3xtf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<32, TC_3XTF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 64, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d64(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<64, ATT_FP32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 64, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d64_tf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<64, TC_TF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 64, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d64_3xtf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<64, TC_3XTF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 128, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d128(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<128, ATT_FP32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 128, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d128_tf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<128, TC_TF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dq part of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 128, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dq_d128_3xtf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dq_tiled<128, TC_3XTF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 16, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d16(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<16, ATT_FP32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 16, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d16_tf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<16, TC_TF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 16, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d16_3xtf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<16, TC_3XTF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 32, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<32, ATT_FP32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 32, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d32_tf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<32, TC_TF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 32, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d32_3xtf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<32, TC_3XTF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 64, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d64(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<64, ATT_FP32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 64, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d64_tf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<64, TC_TF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 64, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d64_3xtf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<64, TC_3XTF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 128, FP32 FFMA; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d128(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<128, ATT_FP32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 128, TF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d128_tf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<128, TC_TF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}
// dk, dv parts of dqkv (B,T,3C) from dout (B,T,C), qkv (B,T,3C), saved (B,H,T,3); d_h 128, 3xTF32 mma; grid (ceil(T/64), B*H)
extern "C" __global__ void __launch_bounds__(ATT_TILE_THREADS) attention_backward_dkv_d128_3xtf32(float* __restrict__ dqkv, const float* __restrict__ dout, const float* __restrict__ qkv, const float* __restrict__ saved,
    float entropy_scale, int t, int c, int heads, const float* __restrict__ alibi_slopes, float inv_temperature, float p_drop,
    unsigned long long seed, unsigned long long stream)
{
    attention_backward_dkv_tiled<128, TC_3XTF32>(dqkv, dout, qkv, saved, entropy_scale, t, c, heads, alibi_slopes, inv_temperature, p_drop, seed, stream);
}

// ---------------------------------------------------------------------------------------------------------
// LSTM (PyTorch gate order i, f, g, o): one launch per time step fuses the recurrent GEMM with the gates.
// ---------------------------------------------------------------------------------------------------------

__device__ __forceinline__ float sigmoidf_(float x) { return 1.0f / (1.0f + expf(-x)); }

// Step `step` of the forward. One warp per (b, j): the lanes split k for the four dot products h_{t-1} . W_hh rows.
// h, cell (B,T,H), gates (B,T,4H) (after their nonlinearities), xproj (B,T,4H) = x W_ih^T + b_ih, whh (4H,H), bhh (4H)
extern "C" __global__ void __launch_bounds__(256)
lstm_step_forward(float* __restrict__ h, float* __restrict__ cell, float* __restrict__ gates, const float* __restrict__ xproj,
                  const float* __restrict__ whh, const float* __restrict__ bhh, int b, int t, int hidden, int step)
{
    int warp = (blockIdx.x * blockDim.x + threadIdx.x) / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    if (warp >= b * hidden) return;
    int bi = warp / hidden, j = warp % hidden;
    long long row = (long long)bi * t + step;
    const float* hprev = h + (row - 1) * hidden;
    float z[4];
    for (int g = 0; g < 4; g++)
    {
        float s = 0.0f;
        if (step > 0)
        {
            const float* w = whh + (long long)(g * hidden + j) * hidden;
            for (int k = lane; k < hidden; k += WARP_SIZE) s += hprev[k] * w[k];
        }
        s = warp_sum(s);
        z[g] = s + xproj[row * 4 * hidden + g * hidden + j] + bhh[g * hidden + j];
    }
    if (lane != 0) return;
    float ig = sigmoidf_(z[0]), fg = sigmoidf_(z[1]), gg = tanhf(z[2]), og = sigmoidf_(z[3]);
    float* gate = gates + row * 4 * hidden;
    gate[j] = ig; gate[hidden + j] = fg; gate[2 * hidden + j] = gg; gate[3 * hidden + j] = og;
    float cv = ig * gg + (step > 0 ? fg * cell[(row - 1) * hidden + j] : 0.0f);
    cell[row * hidden + j] = cv;
    h[row * hidden + j] = og * tanhf(cv);
}

// Step `step` of the backward, gates part: dxproj (B,T,4H) (this step's rows, overwritten) from dh (B,T,H) plus
// dh_next (B,H) (from step+1) and dc_next (B,H) (updated in place to the gradient reaching c_{t-1}).
extern "C" __global__ void __launch_bounds__(256)
lstm_step_backward(float* __restrict__ dxproj, float* __restrict__ dc_next, const float* __restrict__ dh_next,
                   const float* __restrict__ dh, const float* __restrict__ cell, const float* __restrict__ gates,
                   int b, int t, int hidden, int step)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= b * hidden) return;
    int bi = idx / hidden, j = idx % hidden;
    long long row = (long long)bi * t + step;
    const float* gate = gates + row * 4 * hidden;
    float ig = gate[j], fg = gate[hidden + j], gg = gate[2 * hidden + j], og = gate[3 * hidden + j];
    float tc = tanhf(cell[row * hidden + j]);
    float dh_total = dh[row * hidden + j] + dh_next[idx];
    float dc = dc_next[idx] + dh_total * og * (1.0f - tc * tc);
    float cp = step > 0 ? cell[(row - 1) * hidden + j] : 0.0f;
    float* dz = dxproj + row * 4 * hidden;
    dz[j] = dc * gg * ig * (1.0f - ig);
    dz[hidden + j] = dc * cp * fg * (1.0f - fg);
    dz[2 * hidden + j] = dc * ig * (1.0f - gg * gg);
    dz[3 * hidden + j] = dh_total * tc * og * (1.0f - og);
    dc_next[idx] = dc * fg;
}

// Step `step` of the backward, recurrent part: dh_prev (B,H) = dz_t (B,4H) W_hh (4H,H); thread per (b, k),
// consecutive k read consecutive W_hh columns (coalesced), m summed in order.
extern "C" __global__ void __launch_bounds__(256)
lstm_step_backward_dh(float* __restrict__ dh_prev, const float* __restrict__ dxproj, const float* __restrict__ whh,
                      int b, int t, int hidden, int step)
{
    int idx = blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= b * hidden) return;
    int bi = idx / hidden, k = idx % hidden;
    const float* dz = dxproj + ((long long)bi * t + step) * 4 * hidden;
    float s = 0.0f;
    for (int m = 0; m < 4 * hidden; m++) s += dz[m] * whh[(long long)m * hidden + k];
    dh_prev[idx] = s;
}

// ---- the persistent LSTM: one cooperative launch for the whole sequence, a grid barrier per time step ----
// Block p owns the hidden units j in [p*units, min((p+1)*units, H)) and keeps the W_hh entries of those units in
// shared memory for the whole launch: in the forward the 4*units rows (i, f, g, o) that produce their gates, in the
// backward the units columns that carry their dh_{t-1}. A dot product task is one W_hh row (or column) against up to
// LSTM_DOT_ROWS batch rows (each W_hh value read once for them all), split over a group of `lanes` consecutive
// threads (a power of two, as many as the block's threads allow): lane l sums k = l, l + lanes, ... in order, then a
// butterfly adds the lanes; every sum has one fixed order. Data that other blocks wrote during the launch is read
// with plain loads after grid_sync, whose fences make it visible (as cooperative_groups' grid.sync does). The host
// (GpuOps.Lstm.cs) sizes dynamic shared memory with the same layout.

#define LSTM_THREADS 256
// Most blocks of a persistent launch (each keeps ceil(H / blocks) units' W_hh in shared memory).
#define LSTM_MAX_BLOCKS 32
// Batch rows of h_{t-1} (forward) or dz_t (backward) staged in shared memory at a time.
#define LSTM_STAGE_ROWS 16
// Batch rows one dot product task covers (accumulators per thread).
#define LSTM_DOT_ROWS 4

// Threads per dot product task when a block has `tasks` of them: the largest power of two <= 32 that still gives
// every task its own group.
__device__ __forceinline__ int lstm_lanes(int tasks)
{
    int lanes = 32;
    while (lanes > 1 && lanes * tasks > LSTM_THREADS) lanes >>= 1;
    return lanes;
}

// Shared-memory row stride (floats) for rows of n floats read `lanes` at a time: a multiple of 32 plus lanes (mod 32),
// so that the groups of a warp, reading neighbouring rows at the same offsets, use different banks.
__device__ __forceinline__ int lstm_stride(int n, int lanes) { return (n + 31) / 32 * 32 + lanes % 32; }

// Staged rows, rounded up to whole dot tasks (the rows past the batch are read and their sums dropped).
__device__ __forceinline__ int lstm_stage_rows(int stage) { return (stage + LSTM_DOT_ROWS - 1) / LSTM_DOT_ROWS * LSTM_DOT_ROWS; }

// Loads each thread keeps in flight while staging rows into shared memory.
#define LSTM_STAGE_LOADS 16

// dst[r * stride + k] = src[r * src_stride + k] for r < rows, k < n: thread x copies columns k = x, x + blockDim.x, ...
// of LSTM_STAGE_LOADS rows at a time, all loads issued before the stores, so that they wait for memory together
// rather than one after another (a few instructions an element: the rows are uniform, the column fixed).
__device__ __forceinline__ void lstm_stage(float* dst, int stride, const float* src, long long src_stride, int rows, int n)
{
    for (int k = threadIdx.x; k < n; k += blockDim.x)
        for (int r0 = 0; r0 < rows; r0 += LSTM_STAGE_LOADS)
        {
            float v[LSTM_STAGE_LOADS];
#pragma unroll
            for (int q = 0; q < LSTM_STAGE_LOADS; q++)
                if (r0 + q < rows) v[q] = src[(r0 + q) * src_stride + k];
#pragma unroll
            for (int q = 0; q < LSTM_STAGE_LOADS; q++)
                if (r0 + q < rows) dst[(r0 + q) * stride + k] = v[q];
        }
}

// acc[r] = sum over k of a[r * stride + k] * w[k], k = lane, lane + lanes, ... < n, then the butterfly over the group.
// Every thread of the warp calls it (the shuffles); `active` threads read.
__device__ __forceinline__ void lstm_dot(float acc[LSTM_DOT_ROWS], const float* a, const float* w, int stride, int n, int lane,
                                         int lanes, bool active)
{
    for (int r = 0; r < LSTM_DOT_ROWS; r++) acc[r] = 0.0f;
    if (active)
        for (int k = lane; k < n; k += lanes)
        {
            const float wk = w[k];
            for (int r = 0; r < LSTM_DOT_ROWS; r++) acc[r] += a[r * stride + k] * wk;
        }
    for (int offset = lanes / 2; offset > 0; offset >>= 1)
        for (int r = 0; r < LSTM_DOT_ROWS; r++) acc[r] += __shfl_xor_sync(FULL_MASK, acc[r], offset);
}

// The forward, all steps. Per step and batch chunk: h_{t-1} rows, xproj + b_hh and c_{t-1} of the block's units to
// shared memory (all loads in flight together), the dot products added to the pre-activations, then the gates and
// state; a grid barrier ends the step (h_t is read by every block the next step).
// h, cell (B,T,H), gates (B,T,4H) (after their nonlinearities), xproj (B,T,4H), whh (4H,H), bhh (4H),
// barrier (1) grid_sync's counter. Shared: W_hh rows (4*units, stride), h_{t-1} (stage rows rounded up, stride),
// pre-activations (STAGE, 4*units), c_{t-1} (STAGE, units).
extern "C" __global__ void __launch_bounds__(LSTM_THREADS)
lstm_forward_persistent(float* h, float* __restrict__ cell, float* __restrict__ gates, const float* __restrict__ xproj,
                        const float* __restrict__ whh, const float* __restrict__ bhh, unsigned int* barrier,
                        int b, int t, int hidden, int units)
{
    extern __shared__ float lstm_shared[];
    const int j0 = blockIdx.x * units, mine = min(units, hidden - j0), g4 = 4 * hidden, u4 = 4 * units;
    const int stage = min(b, LSTM_STAGE_ROWS), sets = lstm_stage_rows(stage) / LSTM_DOT_ROWS;
    const int lanes = lstm_lanes(sets * u4), stride = lstm_stride(hidden, lanes);
    float* w_s = lstm_shared;                           // row g*units + u: W_hh row g*H + j0 + u
    float* h_s = w_s + u4 * stride;                     // row r: h_{t-1} of batch row b0 + r
    float* z_s = h_s + lstm_stage_rows(stage) * stride; // (r, g*units + u): pre-activation
    float* c_s = z_s + stage * u4;                      // (r, u): c_{t-1}
    for (int i = threadIdx.x; i < 4 * mine * hidden; i += blockDim.x)
    {
        const int row = i / hidden, k = i % hidden, g = row / mine, u = row % mine;
        w_s[(g * units + u) * stride + k] = whh[(long long)(g * hidden + j0 + u) * hidden + k];
    }
    const int group = threadIdx.x / lanes, lane = threadIdx.x % lanes, groups = blockDim.x / lanes;
    for (int step = 0; step < t; step++)
    {
        for (int b0 = 0; b0 < b; b0 += stage)
        {
            const int rows = min(stage, b - b0), tasks = (rows + LSTM_DOT_ROWS - 1) / LSTM_DOT_ROWS * 4 * mine;
            if (step > 0) lstm_stage(h_s, stride, h + ((long long)b0 * t + step - 1) * hidden, (long long)t * hidden, rows, hidden);
            for (int i = threadIdx.x; i < rows * 4 * mine; i += blockDim.x)
            {
                const int r = i / (4 * mine), g = i % (4 * mine) / mine, u = i % mine;
                const long long row = (long long)(b0 + r) * t + step;
                z_s[r * u4 + g * units + u] = xproj[row * g4 + g * hidden + j0 + u] + bhh[g * hidden + j0 + u];
                if (g == 0) c_s[r * units + u] = step > 0 ? cell[(row - 1) * hidden + j0 + u] : 0.0f;
            }
            __syncthreads();  // staged (and W_hh, the first time)
            for (int d0 = 0; step > 0 && d0 < sets * u4; d0 += groups)  // the same trip count on every thread (shuffles)
            {
                const int d = d0 + group, set = d / (4 * mine), q = d % (4 * mine), wrow = (q / mine) * units + q % mine;
                float acc[LSTM_DOT_ROWS];
                lstm_dot(acc, h_s + set * LSTM_DOT_ROWS * stride, w_s + wrow * stride, stride, hidden, lane, lanes, d < tasks);
                if (d < tasks && lane == 0)
                    for (int r = 0; r < LSTM_DOT_ROWS && set * LSTM_DOT_ROWS + r < rows; r++)
                        z_s[(set * LSTM_DOT_ROWS + r) * u4 + wrow] += acc[r];
            }
            __syncthreads();  // z_s complete
            for (int e = threadIdx.x; e < rows * mine; e += blockDim.x)
            {
                const int r = e / mine, u = e % mine, j = j0 + u;
                const long long row = (long long)(b0 + r) * t + step;
                const float* z = z_s + r * u4 + u;
                const float ig = sigmoidf_(z[0]), fg = sigmoidf_(z[units]), gg = tanhf(z[2 * units]), og = sigmoidf_(z[3 * units]);
                float* gate = gates + row * g4;
                gate[j] = ig; gate[hidden + j] = fg; gate[2 * hidden + j] = gg; gate[3 * hidden + j] = og;
                const float cv = ig * gg + fg * c_s[r * units + u];
                cell[row * hidden + j] = cv;
                h[row * hidden + j] = og * tanhf(cv);
            }
            __syncthreads();  // the shared rows are free for the next chunk
        }
        if (step + 1 < t) grid_sync(barrier);  // h_t of every unit written
    }
}

// The backward, all steps (t = T-1 down to 0). Per step: the block's units' dz_t (into dxproj) from dh_t, the
// gradient dh_next reaching h_t from step t+1 and dc_next reaching c_t; a grid barrier (dz_t of every unit written);
// then dh_next = dz_t W_hh for its units: per batch chunk, dz_t rows to shared memory and one dot product of length 4H
// per (row, unit) with the block's W_hh columns. dh_next, dc_next (B,H) are this block's own columns only.
// dxproj (B,T,4H) (overwritten), dh_next, dc_next (B,H) scratch, dh (B,T,H), cell (B,T,H), gates (B,T,4H),
// whh (4H,H), barrier (1) grid_sync's counter. Shared: W_hh columns (units, stride), dz_t (stage rows rounded up, stride).
extern "C" __global__ void __launch_bounds__(LSTM_THREADS)
lstm_backward_persistent(float* dxproj, float* __restrict__ dh_next, float* __restrict__ dc_next, const float* __restrict__ dh,
                         const float* __restrict__ cell, const float* __restrict__ gates, const float* __restrict__ whh,
                         unsigned int* barrier, int b, int t, int hidden, int units)
{
    extern __shared__ float lstm_shared[];
    const int j0 = blockIdx.x * units, mine = min(units, hidden - j0), g4 = 4 * hidden;
    const int stage = min(b, LSTM_STAGE_ROWS), sets = lstm_stage_rows(stage) / LSTM_DOT_ROWS;
    const int lanes = lstm_lanes(sets * units), stride = lstm_stride(g4, lanes);
    float* w_s = lstm_shared;             // row u: W_hh column j0 + u (4H)
    float* dz_s = w_s + units * stride;   // row r: dz_t of batch row b0 + r (4H)
    for (int i = threadIdx.x; i < mine * g4; i += blockDim.x)
    {
        const int m = i / mine, u = i % mine;
        w_s[u * stride + m] = whh[(long long)m * hidden + j0 + u];
    }
    const int group = threadIdx.x / lanes, lane = threadIdx.x % lanes, groups = blockDim.x / lanes;
    for (int step = t - 1; step >= 0; step--)
    {
        const bool last = step == t - 1;  // nothing reaches h_{T-1}, c_{T-1} from later steps
        for (int e = threadIdx.x; e < b * mine; e += blockDim.x)
        {
            const int bi = e / mine, j = j0 + e % mine, idx = bi * hidden + j;
            const long long row = (long long)bi * t + step;
            const float* gate = gates + row * g4;
            const float ig = gate[j], fg = gate[hidden + j], gg = gate[2 * hidden + j], og = gate[3 * hidden + j];
            const float tc = tanhf(cell[row * hidden + j]);
            const float dh_total = dh[row * hidden + j] + (last ? 0.0f : dh_next[idx]);
            const float dc = (last ? 0.0f : dc_next[idx]) + dh_total * og * (1.0f - tc * tc);
            const float cp = step > 0 ? cell[(row - 1) * hidden + j] : 0.0f;
            float* dz = dxproj + row * g4;
            dz[j] = dc * gg * ig * (1.0f - ig);
            dz[hidden + j] = dc * cp * fg * (1.0f - fg);
            dz[2 * hidden + j] = dc * ig * (1.0f - gg * gg);
            dz[3 * hidden + j] = dh_total * tc * og * (1.0f - og);
            dc_next[idx] = dc * fg;
        }
        if (step == 0) break;
        grid_sync(barrier);  // dz_t of every unit written (and this block's dh_next reads done)
        for (int b0 = 0; b0 < b; b0 += stage)
        {
            const int rows = min(stage, b - b0), tasks = (rows + LSTM_DOT_ROWS - 1) / LSTM_DOT_ROWS * mine;
            lstm_stage(dz_s, stride, dxproj + ((long long)b0 * t + step) * g4, (long long)t * g4, rows, g4);
            __syncthreads();  // dz_s staged
            for (int d0 = 0; d0 < sets * units; d0 += groups)  // the same trip count on every thread (shuffles)
            {
                const int d = d0 + group, set = d / mine, u = d % mine;
                float acc[LSTM_DOT_ROWS];
                lstm_dot(acc, dz_s + set * LSTM_DOT_ROWS * stride, w_s + u * stride, stride, g4, lane, lanes, d < tasks);
                if (d < tasks && lane == 0)
                    for (int r = 0; r < LSTM_DOT_ROWS && set * LSTM_DOT_ROWS + r < rows; r++)
                        dh_next[(b0 + set * LSTM_DOT_ROWS + r) * hidden + j0 + u] = acc[r];
            }
            __syncthreads();  // dz_s free for the next chunk; dh_next visible to the gate threads
        }
    }
}

// hprev (B,T,H): h shifted one step later in time (zero at t = 0), the input of the W_hh gradient GEMM.
extern "C" __global__ void __launch_bounds__(256)
lstm_shift_hidden(float* __restrict__ hprev, const float* __restrict__ h, int b, int t, int hidden)
{
    long long total = (long long)b * t * hidden, stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride)
    {
        long long row = i / hidden;
        hprev[i] = row % t == 0 ? 0.0f : h[i - hidden];
    }
}

// ---------------------------------------------------------------------------------------------------------
// Kernel table: every extern "C" __global__ entry point, once, by name. The emulator registers its kernels from
// it, the GPU device looks them up by it and the kernel report lists them in its order. Block sizes are not
// repeated here: a kernel's __launch_bounds__ is their one place (KernelSource reads it). A test checks the
// table against the definitions above.
// ---------------------------------------------------------------------------------------------------------
#define RFF_KERNEL_TABLE(X)                \
    X(adamw_update)                        \
    X(loss_guard)                          \
    X(layernorm_forward)                   \
    X(layernorm_backward)                  \
    X(layernorm_backward_reduce)           \
    X(matmul_forward)                      \
    X(matmul_backward_input)               \
    X(matmul_backward_weight)              \
    X(matmul_backward_bias)                \
    X(matmul_forward_3xtf32)               \
    X(matmul_forward_tf32)                 \
    X(matmul_backward_input_3xtf32)        \
    X(matmul_backward_input_tf32)          \
    X(matmul_backward_weight_3xtf32)       \
    X(matmul_backward_weight_tf32)         \
    X(matmul_split_k_reduce)               \
    X(matmul_narrow_forward_3xtf32)        \
    X(matmul_narrow_forward_tf32)          \
    X(matmul_narrow_forward_reduce)        \
    X(matmul_narrow_backward_weight_3xtf32)\
    X(matmul_narrow_backward_weight_tf32)  \
    X(fill_value)                          \
    X(sum_forward)                         \
    X(dropout_forward)                     \
    X(embedding_forward)                   \
    X(embedding_backward_partial)          \
    X(embedding_backward_reduce)           \
    X(position_add_forward)                \
    X(position_add_backward)               \
    X(sinusoidal_table)                    \
    X(linear_position_forward)             \
    X(rope_table)                          \
    X(rope_rotate)                         \
    X(position_scale_forward)              \
    X(position_scale_backward)             \
    X(linear_position_embedding_forward)   \
    X(linear_position_embedding_backward)  \
    X(gelu_forward)                        \
    X(gelu_backward)                       \
    X(residual_forward)                    \
    X(crossentropy_forward_backward)       \
    X(argmax_forward)                      \
    X(read_errors_forward)                 \
    X(attention_forward)                   \
    X(attention_backward_preprocess)       \
    X(attention_backward_dq)               \
    X(attention_backward_dkv)              \
    X(attention_entropy_forward)           \
    X(attention_probabilities)             \
    X(attention_forward_d16)                \
    X(attention_forward_d16_tf32)           \
    X(attention_forward_d16_3xtf32)         \
    X(attention_forward_d32)                \
    X(attention_forward_d32_tf32)           \
    X(attention_forward_d32_3xtf32)         \
    X(attention_forward_d64)                \
    X(attention_forward_d64_tf32)           \
    X(attention_forward_d64_3xtf32)         \
    X(attention_forward_d128)               \
    X(attention_forward_d128_tf32)          \
    X(attention_forward_d128_3xtf32)        \
    X(attention_backward_dq_d16)            \
    X(attention_backward_dq_d16_tf32)       \
    X(attention_backward_dq_d16_3xtf32)     \
    X(attention_backward_dq_d32)            \
    X(attention_backward_dq_d32_tf32)       \
    X(attention_backward_dq_d32_3xtf32)     \
    X(attention_backward_dq_d64)            \
    X(attention_backward_dq_d64_tf32)       \
    X(attention_backward_dq_d64_3xtf32)     \
    X(attention_backward_dq_d128)           \
    X(attention_backward_dq_d128_tf32)      \
    X(attention_backward_dq_d128_3xtf32)    \
    X(attention_backward_dkv_d16)           \
    X(attention_backward_dkv_d16_tf32)      \
    X(attention_backward_dkv_d16_3xtf32)    \
    X(attention_backward_dkv_d32)           \
    X(attention_backward_dkv_d32_tf32)      \
    X(attention_backward_dkv_d32_3xtf32)    \
    X(attention_backward_dkv_d64)           \
    X(attention_backward_dkv_d64_tf32)      \
    X(attention_backward_dkv_d64_3xtf32)    \
    X(attention_backward_dkv_d128)          \
    X(attention_backward_dkv_d128_tf32)     \
    X(attention_backward_dkv_d128_3xtf32)   \
    X(lstm_step_forward)                   \
    X(lstm_step_backward)                  \
    X(lstm_step_backward_dh)               \
    X(lstm_shift_hidden)                   \
    X(lstm_forward_persistent)             \
    X(lstm_backward_persistent)
