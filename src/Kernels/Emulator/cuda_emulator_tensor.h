// cuda_emulator_tensor.h: the instructions behind kernels.cu's warp-matrix primitives, on the CPU. Included by
// cuda_emulator.h; kernels.cu calls these where the GPU runs inline PTX (when __CUDA_ARCH__ is not defined).
//
// - mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 and ldmatrix.sync.aligned.m8n8.x{1,2,4}.shared.b16 are
//   warp collectives (Runner::warp_op, kind Collective): all 32 lanes of a whole warp must arrive (.aligned), each
//   deposits a pointer to its registers, and the last to arrive computes every lane's result. Fragments are gathered
//   into whole matrices and scattered back by the per-lane ownership the PTX ISA specifies (lane l = 4g + t).
// - mma: the inputs are TF32 (the 13 low mantissa bits of each FP32 pattern are ignored, as the tensor cores read
//   them); each product of two TF32 numbers is exact in FP32; D[m][n] = C[m][n] + p_0 + p_1 + ... + p_7 added in k
//   order, every sum rounded to FP32 (nearest even). The hardware's order within one k8 step is not specified, so
//   tests compare it with a tolerance that covers any order of those eight additions.
// - Sequences (WarpSequence): kernels.cu's warp_sequence gathers a warp's run of mma and ldmatrix instructions
//   that no other warp operation interrupts, and the emulator runs the run in one rendezvous instead of one per
//   instruction: the same instructions in the same order, each seeing the registers as the previous ones left them.
//   Only the number of fiber switches changes (about 32 per rendezvous).
// - cp.async (per thread): recorded at issue, its destination poisoned with 0xff bytes (NaN: the contents are
//   undefined until the copy completes), grouped by cp.async.commit_group, and performed when cp.async.wait_group
//   lets its group complete. So a thread that reads a destination before its own wait, or another thread's before
//   a barrier that follows that wait (shuffled order), reads NaN instead of the data. Copies still pending when a
//   thread exits are dropped: their shared memory dies with the block.
// - cvt.rna.tf32.f32: to nearest, ties away from zero, at 10 mantissa bits, as the SASS ptxas 11.8 emits for it on
//   sm_80 and sm_90 (FSETP.GEU |x|, +INF; @!P0 IADD x, 0x1000; LOP3 x & 0xffffe000): a finite x gets half a TF32 ulp
//   added to its bits (a carry may raise the exponent, up to infinity), then the 13 low bits are cleared; an infinity
//   or a NaN only has them cleared (so a NaN whose payload lies in those bits becomes an infinity).
#pragma once

namespace rff_emu
{
inline uint32_t tf32_round(float x)
{
    const uint32_t bits = (uint32_t)to_bits(x);
    const bool finite = (bits & 0x7f800000u) != 0x7f800000u;
    return (finite ? bits + 0x1000u : bits) & 0xffffe000u;
}

// The value the tensor cores read from a TF32 operand register.
inline float tf32_operand(uint32_t bits) { return from_bits<float>(bits & 0xffffe000u); }

[[noreturn]] inline void fail_thread(const std::string& what)
{
    Runner* r = t_runner;
    r->fail_in_fiber(r->where() + ", " + r->thread_name(*t_fiber) + ": " + what);
}

// ---- mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 d, a, b, d ------------------------------------------------
struct MmaTf32Lane
{
    float* d;
    const uint32_t* a;
    const uint32_t* b;
};

// Four floats as one value (GCC/Clang vector extension; an SSE register): half a row of an n8 tile.
typedef float Quad __attribute__((vector_size(16)));

// The warp's mma: lanes[l] holds lane l's fragments.
inline void mma_tf32_execute(const MmaTf32Lane* const* lanes)
{
    float A[16][8], B[8][8], D[16][8];
    for (int lane = 0; lane < 32; lane++)
    {
        const MmaTf32Lane& l = *lanes[lane];
        const int g = lane >> 2, t = lane & 3;
        A[g][t] = tf32_operand(l.a[0]);
        A[g + 8][t] = tf32_operand(l.a[1]);
        A[g][t + 4] = tf32_operand(l.a[2]);
        A[g + 8][t + 4] = tf32_operand(l.a[3]);
        B[t][g] = tf32_operand(l.b[0]);
        B[t + 4][g] = tf32_operand(l.b[1]);
        D[g][2 * t] = l.d[0];
        D[g][2 * t + 1] = l.d[1];
        D[g + 8][2 * t] = l.d[2];
        D[g + 8][2 * t + 1] = l.d[3];
    }
    // Row m of D takes the products of k = 0..7 in order, element-wise over n. Each product is exact: one
    // rounding per step, at the sum.
    Quad b[8][2];
    std::memcpy(b, B, sizeof b);
    for (int m = 0; m < 16; m++)
    {
        Quad left, right;
        std::memcpy(&left, &D[m][0], sizeof left);
        std::memcpy(&right, &D[m][4], sizeof right);
        for (int k = 0; k < 8; k++)
        {
            left += A[m][k] * b[k][0];
            right += A[m][k] * b[k][1];
        }
        std::memcpy(&D[m][0], &left, sizeof left);
        std::memcpy(&D[m][4], &right, sizeof right);
    }
    for (int lane = 0; lane < 32; lane++)
    {
        float* d = lanes[lane]->d;
        const int g = lane >> 2, t = lane & 3;
        d[0] = D[g][2 * t];
        d[1] = D[g][2 * t + 1];
        d[2] = D[g + 8][2 * t];
        d[3] = D[g + 8][2 * t + 1];
    }
}

// ---- ldmatrix.sync.aligned.m8n8.x{count}.shared.b16 ---------------------------------------------------------------
struct LdmatrixLane
{
    uint32_t* r;
    const char* row;
    int count;
};

// The warp's ldmatrix: matrix i's rows come from lanes 8i..8i+7; lane l receives the 32 bits at row l/4, bytes 4(l%4)..
inline void ldmatrix_execute(const LdmatrixLane* const* lanes)
{
    const int count = lanes[0]->count;
    for (int lane = 0; lane < 32; lane++)
    {
        const LdmatrixLane& l = *lanes[lane];
        if (l.count != count)
            fail_thread("ldmatrix: lane " + std::to_string(lane) + " loads " + std::to_string(l.count) + " matrices, lane 0 " +
                        std::to_string(count));
        if (lane < 8 * count && ((uintptr_t)l.row & 15u))
        {
            char buffer[160];
            std::snprintf(buffer, sizeof buffer, "ldmatrix: lane %d's row address %p is not 16-byte aligned", lane, (const void*)l.row);
            fail_thread(buffer);
        }
    }
    for (int lane = 0; lane < 32; lane++)
        for (int i = 0; i < count; i++) std::memcpy(&lanes[lane]->r[i], lanes[8 * i + (lane >> 2)]->row + 4 * (lane & 3), 4);
}

// ---- warp-matrix sequences --------------------------------------------------------------------------------------
// A lane's run of mma and ldmatrix instructions that no other warp operation interrupts (kernels.cu's
// warp_sequence), run for the whole warp in one rendezvous: the same instructions in the same order, each seeing the
// registers as the previous ones left them. A lone instruction is a sequence of one. On the GPU each instruction
// is its own rendezvous; here one saves about 32 fiber switches per instruction.
struct WarpSequence
{
    static constexpr int Capacity = 32;
    enum Kind { Mma, Ldmatrix };
    struct Entry
    {
        Kind kind;
        MmaTf32Lane mma;
        LdmatrixLane ldmatrix;
    };
    Entry entries[Capacity];
    int count = 0;

    Entry& next()
    {
        if (count == Capacity) fail_thread("a warp-matrix sequence holds at most " + std::to_string(Capacity) + " instructions");
        return entries[count++];
    }
    void mma(float* d, const uint32_t* a, const uint32_t* b) { Entry& e = next(); e.kind = Mma; e.mma = MmaTf32Lane{d, a, b}; }
    void ldmatrix(uint32_t* r, int matrices, const void* row)
    {
        Entry& e = next();
        e.kind = Ldmatrix;
        e.ldmatrix = LdmatrixLane{r, static_cast<const char*>(row), matrices};
    }
};

inline const char* instruction_name(WarpSequence::Kind kind) { return kind == WarpSequence::Mma ? "mma.sync.m16n8k8.tf32" : "ldmatrix"; }

inline void warp_sequence_complete(void* const* lanes)
{
    const WarpSequence& first = *static_cast<const WarpSequence*>(lanes[0]);
    for (int lane = 1; lane < 32; lane++)
    {
        const WarpSequence& other = *static_cast<const WarpSequence*>(lanes[lane]);
        for (int i = 0; i < std::max(first.count, other.count); i++)
            if (i >= first.count || i >= other.count || other.entries[i].kind != first.entries[i].kind)
                fail_thread("divergent warp-matrix instructions: instruction " + std::to_string(i) + " of lane " + std::to_string(lane) +
                            " is " + (i < other.count ? instruction_name(other.entries[i].kind) : "missing") + ", of lane 0 " +
                            (i < first.count ? instruction_name(first.entries[i].kind) : "missing"));
    }
    for (int i = 0; i < first.count; i++)
        if (first.entries[i].kind == WarpSequence::Mma)
        {
            const MmaTf32Lane* step[32];
            for (int lane = 0; lane < 32; lane++) step[lane] = &static_cast<const WarpSequence*>(lanes[lane])->entries[i].mma;
            mma_tf32_execute(step);
        }
        else
        {
            const LdmatrixLane* step[32];
            for (int lane = 0; lane < 32; lane++) step[lane] = &static_cast<const WarpSequence*>(lanes[lane])->entries[i].ldmatrix;
            ldmatrix_execute(step);
        }
}

inline const CollectiveOp warp_sequence_op{"mma.sync/ldmatrix", warp_sequence_complete};

// Runs this lane's recorded instructions together with the rest of the warp's, then empties the sequence.
inline void warp_sequence_run(WarpSequence& sequence, int line = __builtin_LINE())
{
    t_runner->warp_op(Collective, line, 0xffffffffu, (uint64_t)(uintptr_t)&sequence, 0, 32, &warp_sequence_op);
    sequence.count = 0;
}

// d (4) += a (4) b (2): this lane's fragments of D = A B + D (16x8x8).
inline void mma_tf32_m16n8k8(float* d, const uint32_t* a, const uint32_t* b, int line = __builtin_LINE())
{
    WarpSequence one;
    one.mma(d, a, b);
    warp_sequence_run(one, line);
}

// r (count) = this lane's words of `count` 8x8 matrices of 16-bit elements (8 rows of 16 bytes each); row: the
// shared-memory address of the row this lane provides (lanes 8i..8i+7: the rows of matrix i).
inline void ldmatrix(uint32_t* r, int count, const void* row, int line = __builtin_LINE())
{
    WarpSequence one;
    one.ldmatrix(r, count, row);
    warp_sequence_run(one, line);
}

// ---- cp.async ----------------------------------------------------------------------------------------------------
// cp.async.{ca,cg}.shared.global [dst], [src], bytes, src_bytes: src_bytes bytes copied, the rest of `bytes` zero.
inline void cp_async(void* dst, const void* src, int bytes, int src_bytes)
{
    if (((uintptr_t)dst | (uintptr_t)src) & (uintptr_t)(bytes - 1))
    {
        char buffer[200];
        std::snprintf(buffer, sizeof buffer, "cp.async of %d bytes from %p to %p: both addresses must be %d-byte aligned", bytes,
                      src, dst, bytes);
        fail_thread(buffer);
    }
    if (src_bytes < 0 || src_bytes > bytes)
        fail_thread("cp.async of " + std::to_string(bytes) + " bytes with source size " + std::to_string(src_bytes));
    std::memset(dst, 0xff, (size_t)bytes);
    t_fiber->copies.push_back(AsyncCopy{static_cast<char*>(dst), static_cast<const char*>(src), (uint32_t)bytes, (uint32_t)src_bytes,
                                        AsyncCopy::Uncommitted});
}

// cp.async.commit_group: the copies issued since the last commit form the next group (possibly empty).
inline void cp_async_commit()
{
    Fiber& f = *t_fiber;
    for (AsyncCopy& c : f.copies)
        if (c.group == AsyncCopy::Uncommitted) c.group = f.committed_groups;
    f.committed_groups++;
}

// cp.async.wait_group pending: completes every committed group but the newest `pending` ones.
inline void cp_async_wait(int pending)
{
    Fiber& f = *t_fiber;
    const uint32_t complete_below = f.committed_groups > (uint32_t)pending ? f.committed_groups - (uint32_t)pending : 0;
    size_t kept = 0;
    for (size_t i = 0; i < f.copies.size(); i++)
    {
        const AsyncCopy& c = f.copies[i];
        if (c.group != AsyncCopy::Uncommitted && c.group < complete_below)
        {
            std::memcpy(c.dst, c.src, c.src_bytes);
            std::memset(c.dst + c.src_bytes, 0, c.bytes - c.src_bytes);
        }
        else
            f.copies[kept++] = c;
    }
    f.copies.resize(kept);
}
}  // namespace rff_emu
