// RawFlipFlop CUDA kernels. Compiled at run time by NVRTC (no #include: NVRTC runs without CUDA headers)
// and, for the emulator, as C++ by g++ (src/Kernels/Emulator/cuda_emulator.h gives the CUDA semantics). Every
// entry point is `extern "C" __global__`, has a comment with its shapes above it, and is listed once in the
// kernel table at the end of this file together with the block size it is launched with.
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

// ---------------------------------------------------------------------------------------------------------
// AdamW
// ---------------------------------------------------------------------------------------------------------

// params (n), grads (n), m (n), v (n): one AdamW step in place, torch.optim.AdamW's formula.
// decay = 1 - lr*wd; step_size = lr / (1 - beta1^t); bc2_sqrt = sqrt(1 - beta2^t) (computed by the host).
extern "C" __global__ void __launch_bounds__(256)
adamw_update(float* __restrict__ params, const float* __restrict__ grads, float* __restrict__ m, float* __restrict__ v,
             long long n, float decay, float beta1, float beta2, float eps, float step_size, float bc2_sqrt)
{
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

// tile (GEMM_BK, 128 + GEMM_PAD) [k][r] = X[r0 + r, k0 + k] for an operand X with R rows of K values:
// X is stored row-major (R,K) when K_CONTIGUOUS, otherwise (K,R). vec: float4 loads are safe (row length
// a multiple of 4 and X 16-byte aligned).
template <bool K_CONTIGUOUS>
__device__ __forceinline__ void gemm_load_tile(float (*tile)[GEMM_BM + GEMM_PAD], const float* __restrict__ x, int R, int K,
                                               int r0, int k0, bool vec)
{
#pragma unroll
    for (int i = 0; i < (GEMM_BK * GEMM_BM / 4) / GEMM_THREADS; i++)
    {
        const int f = threadIdx.x + i * GEMM_THREADS;  // float4 slot of the tile
        if (K_CONTIGUOUS)
        {
            const int r = f / (GEMM_BK / 4), kq = (f % (GEMM_BK / 4)) * 4;
            const int gr = r0 + r, gk = k0 + kq;
            float4 q = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (gr < R)
            {
                const float* p = x + (long long)gr * K + gk;
                if (vec && gk < K)
                    q = *reinterpret_cast<const float4*>(p);
                else
                {
                    if (gk < K) q.x = p[0];
                    if (gk + 1 < K) q.y = p[1];
                    if (gk + 2 < K) q.z = p[2];
                    if (gk + 3 < K) q.w = p[3];
                }
            }
            tile[kq][r] = q.x;
            tile[kq + 1][r] = q.y;
            tile[kq + 2][r] = q.z;
            tile[kq + 3][r] = q.w;
        }
        else
        {
            const int k = f / (GEMM_BM / 4), rq = (f % (GEMM_BM / 4)) * 4;
            const int gk = k0 + k, gr = r0 + rq;
            float4 q = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            if (gk < K)
            {
                const float* p = x + (long long)gk * R + gr;
                if (vec && gr < R)
                    q = *reinterpret_cast<const float4*>(p);
                else
                {
                    if (gr < R) q.x = p[0];
                    if (gr + 1 < R) q.y = p[1];
                    if (gr + 2 < R) q.z = p[2];
                    if (gr + 3 < R) q.w = p[3];
                }
            }
            *reinterpret_cast<float4*>(&tile[k][rq]) = q;
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

// dbias (OC) += column sums of dout (N,OC). A block sums 32 columns: warp w adds rows w, w+8, ... in order, then
// the 8 partial sums are added in warp order. Grid ceil(OC/32), 256 threads.
extern "C" __global__ void __launch_bounds__(256)
matmul_backward_bias(float* __restrict__ dbias, const float* __restrict__ dout, int N, int OC)
{
    __shared__ float partial[8][WARP_SIZE];
    const int tx = threadIdx.x % WARP_SIZE, ty = threadIdx.x / WARP_SIZE;
    const int col = blockIdx.x * WARP_SIZE + tx;
    float sum = 0.0f;
    if (col < OC)
        for (int row = ty; row < N; row += 8) sum += dout[(long long)row * OC + col];
    partial[ty][tx] = sum;
    __syncthreads();
    if (ty == 0 && col < OC)
    {
        float total = 0.0f;
        for (int i = 0; i < 8; i++) total += partial[i][tx];
        dbias[col] += total;
    }
}

// ---------------------------------------------------------------------------------------------------------
// Kernel table: every extern "C" __global__ entry point, once, as X(name, threads per block it is launched
// with). The emulator registers kernels from it, the kernel report computes occupancy at that block size, and
// a test checks it against the definitions above.
// ---------------------------------------------------------------------------------------------------------
#define RFF_KERNEL_TABLE(X)                \
    X(adamw_update, 256)                   \
    X(layernorm_forward, 256)              \
    X(layernorm_backward, 256)             \
    X(layernorm_backward_reduce, 256)      \
    X(matmul_forward, GEMM_THREADS)        \
    X(matmul_backward_input, GEMM_THREADS) \
    X(matmul_backward_weight, GEMM_THREADS) \
    X(matmul_backward_bias, 256)
