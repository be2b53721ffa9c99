// Test-only kernels for kernels.cu's warp-matrix primitives (tf32_round, mma_tf32_m16n8k8, ldmatrix_x4,
// warp_sequence, cp_async_*): the tests compile this file after the primitives' section of kernels.cu
// (WarpMatrixPrimitiveTests), so what runs is kernels.cu's own code. Register fragments go in and out per lane
// as plain arrays; which element of which matrix a lane holds is the test's business (it states the PTX ISA's
// tables itself), never this file's.

// out (n) = the TF32 pattern of inp (n). Grid-stride, any launch.
extern "C" __global__ void __launch_bounds__(256) tf32_round_test(unsigned* out, const float* inp, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) out[i] = tf32_round(inp[i]);
}

// One mma per warp: lane l's registers d = c[l][0..3], then mma_tf32_m16n8k8(d, a[l][0..3], b[l][0..1]);
// d_out[l][0..3] = d. a (warps, 32, 4), b (warps, 32, 2), c and d_out (warps, 32, 4). One block of warps.
extern "C" __global__ void __launch_bounds__(128) mma_test(float* d_out, const unsigned* a, const unsigned* b, const float* c)
{
    const int t = threadIdx.x;
    float d[4] = {c[4 * t], c[4 * t + 1], c[4 * t + 2], c[4 * t + 3]};
    const unsigned af[4] = {a[4 * t], a[4 * t + 1], a[4 * t + 2], a[4 * t + 3]};
    const unsigned bf[2] = {b[2 * t], b[2 * t + 1]};
    mma_tf32_m16n8k8(d, af, bf);
    for (int i = 0; i < 4; i++) d_out[4 * t + i] = d[i];
}

// COUNT mmas per warp into one accumulator, d = c then d += a_i b_i for i = 0..COUNT-1, either as COUNT separate
// instructions (sequence == 0) or as one warp_sequence (sequence != 0). a (COUNT, 32, 4), b (COUNT, 32, 2),
// c and d_out (32, 4). One warp.
#define SEQUENCE_MMAS 6
extern "C" __global__ void __launch_bounds__(32) mma_sequence_test(float* d_out, const unsigned* a, const unsigned* b, const float* c, int sequence)
{
    const int l = threadIdx.x;
    float d[4] = {c[4 * l], c[4 * l + 1], c[4 * l + 2], c[4 * l + 3]};
    unsigned af[SEQUENCE_MMAS][4], bf[SEQUENCE_MMAS][2];
    for (int i = 0; i < SEQUENCE_MMAS; i++)
    {
        for (int j = 0; j < 4; j++) af[i][j] = a[(i * 32 + l) * 4 + j];
        for (int j = 0; j < 2; j++) bf[i][j] = b[(i * 32 + l) * 2 + j];
    }
    if (sequence)
    {
        warp_sequence s;
        for (int i = 0; i < SEQUENCE_MMAS; i++) s.mma(d, af[i], bf[i]);
        s.issue();
    }
    else
        for (int i = 0; i < SEQUENCE_MMAS; i++) mma_tf32_m16n8k8(d, af[i], bf[i]);
    for (int i = 0; i < 4; i++) d_out[4 * l + i] = d[i];
}

// ldmatrix_x4 from shared memory: words (rows, 4) of inp are staged in shared rows of LDM_STRIDE words; lane l gives
// the address of shared row rows[l] and receives out[l][0..3]. One warp.
#define LDM_ROWS 64
#define LDM_STRIDE 8
extern "C" __global__ void __launch_bounds__(32) ldmatrix_test(unsigned* out, const unsigned* inp, const int* rows)
{
    __shared__ __align__(16) float staged[LDM_ROWS * LDM_STRIDE];
    const int l = threadIdx.x;
    for (int i = l; i < LDM_ROWS * 4; i += 32) staged[i / 4 * LDM_STRIDE + i % 4] = __uint_as_float(inp[i]);
    __syncwarp();
    unsigned r[4];
    ldmatrix_x4(r, staged + rows[l] * LDM_STRIDE);
    for (int i = 0; i < 4; i++) out[4 * l + i] = r[i];
}

// cp.async groups, per thread t (out (threads, 16), inp (threads, 16)): group 0 copies inp[t][0..3] (16 bytes),
// group 1 copies inp[t][4] (4 bytes) and zero-fills 8..11 (16 bytes, source size 0); then
//   after cp_async_wait<1>: out[t][0..3] = shared 0..3 (group 0 has landed), out[t][4] = shared 4 (group 1 may not have);
//   after cp_async_wait<0>: out[t][5] = shared 4, out[t][8..11] = shared 8..11.
extern "C" __global__ void __launch_bounds__(64) cp_async_test(float* out, const float* inp)
{
    __shared__ __align__(16) float staged[64 * 16];
    const int t = threadIdx.x;
    float* s = staged + t * 16;
    const float* g = inp + t * 16;
    for (int i = 0; i < 16; i++) s[i] = -1.0f;
    cp_async_16(s, g, true);
    cp_async_commit();
    cp_async_4(s + 4, g + 4, true);
    cp_async_16(s + 8, g + 8, false);
    cp_async_commit();
    cp_async_wait<1>();
    float* o = out + t * 16;
    for (int i = 0; i < 4; i++) o[i] = s[i];
    o[4] = s[4];
    cp_async_wait<0>();
    o[5] = s[4];
    for (int i = 8; i < 12; i++) o[i] = s[i];
}

// BROKEN: a 16-byte cp.async to a destination 4 bytes past a 16-byte boundary.
extern "C" __global__ void __launch_bounds__(32) cp_async_misaligned(const float* inp)
{
    __shared__ __align__(16) float staged[64];
    cp_async_16(staged + 1, inp, true);
    cp_async_commit();
    cp_async_wait<0>();
}

// BROKEN: only lanes below `lanes` of each warp reach the mma (a divergent warp-collective instruction).
extern "C" __global__ void __launch_bounds__(64) mma_divergent(float* out, int lanes)
{
    float d[4] = {0, 0, 0, 0};
    const unsigned a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
    if (threadIdx.x % 32 < lanes) mma_tf32_m16n8k8(d, a, b);
    out[threadIdx.x] = d[0];
}

// BROKEN: lane 5 of each warp has exited when the others reach the mma.
extern "C" __global__ void __launch_bounds__(64) mma_after_exit(float* out)
{
    if (threadIdx.x % 32 == 5) return;
    float d[4] = {0, 0, 0, 0};
    const unsigned a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
    mma_tf32_m16n8k8(d, a, b);
    out[threadIdx.x] = d[0];
}

// BROKEN when launched with a block that is not whole warps: every thread reaches the mma.
extern "C" __global__ void __launch_bounds__(64) mma_all_threads(float* out)
{
    float d[4] = {0, 0, 0, 0};
    const unsigned a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
    mma_tf32_m16n8k8(d, a, b);
    out[threadIdx.x] = d[0];
}

// BROKEN: odd lanes issue one more mma in their warp_sequence than even lanes.
extern "C" __global__ void __launch_bounds__(32) mma_sequence_divergent(float* out)
{
    float d[4] = {0, 0, 0, 0};
    const unsigned a[4] = {0, 0, 0, 0}, b[2] = {0, 0};
    warp_sequence s;
    s.mma(d, a, b);
    if (threadIdx.x % 2) s.mma(d, a, b);
    s.issue();
    out[threadIdx.x] = d[0];
}

// BROKEN: lane 3 gives ldmatrix a row address that is not 16-byte aligned.
extern "C" __global__ void __launch_bounds__(32) ldmatrix_misaligned(unsigned* out)
{
    __shared__ __align__(16) float staged[32 * 4 + 4];
    const int l = threadIdx.x;
    for (int i = 0; i < 4; i++) staged[l * 4 + i] = 0.0f;
    __syncwarp();
    unsigned r[4];
    ldmatrix_x4(r, staged + l * 4 + (l == 3 ? 1 : 0));
    out[l] = r[0];
}

#define RFF_KERNEL_TABLE(X)   \
    X(tf32_round_test)        \
    X(mma_test)               \
    X(mma_sequence_test)      \
    X(ldmatrix_test)          \
    X(cp_async_test)          \
    X(cp_async_misaligned)    \
    X(mma_divergent)          \
    X(mma_after_exit)         \
    X(mma_all_threads)        \
    X(mma_sequence_divergent) \
    X(ldmatrix_misaligned)
