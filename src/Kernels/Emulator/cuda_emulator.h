// cuda_emulator.h: CUDA semantics on the CPU, so that kernels.cu compiled as C++ (g++ -O2) runs unchanged.
//
// EmulatorLibrary (C#) builds one translation unit: this header, the kernel source (with `extern __shared__ T x[];`
// rewritten to `T* x = (T*)rff_emu_dynamic_shared();`), then RFF_EMU_REGISTER(RFF_KERNEL_TABLE), which registers
// every kernel of the table with its parameter types deduced from its signature. C# calls rff_emu_launch.
//
// Execution model
// - A block's threads are fibers with their own stacks (a hand-written x86-64 context switch; ucontext elsewhere).
//   A fiber runs until it reaches a barrier (__syncthreads), a warp operation (shuffles, ballot, __syncwarp) or its
//   end; the scheduler then runs the next runnable fiber. Blocks run one after another on each of a few worker
//   threads.
// - A cooperative launch (cuLaunchCooperativeKernel) runs every block at once, each on its own worker thread, so
//   that rff_emu_grid_sync() (kernels.cu's grid_sync) can hold a block until every block of the grid has arrived,
//   as on a GPU whose blocks are all resident. Like the driver, it refuses a grid larger than can be co-resident
//   (rff_emu_cooperative_blocks: an H100's 132 SMs, each holding at most 2048 threads, 32 blocks and 228 KiB of
//   shared memory with 1 KiB reserved per block; registers are not modelled).
// - __syncthreads releases the block once every thread has arrived at the same __syncthreads (same source line).
//   Threads that exit while others wait, or that wait at different __syncthreads, are reported as errors.
// - Warp operations are barriers of the lanes named in the mask: each lane deposits its value; once all have
//   arrived, every lane's result is computed and the lanes resume. The warp-matrix instructions (mma.sync, ldmatrix)
//   are collectives of the same kind over whole warps; they and cp.async are in cuda_emulator_tensor.h.
// - Shuffle mode (seeded) runs the threads in a random order after every barrier and the blocks in a random order,
//   to expose missing barriers. Dynamic shared memory is filled with 0xff bytes (NaN) before every block.
// - Static __shared__ variables are `static thread_local` (one copy per worker thread, i.e. per running block).
//
// Checks (errors come back to C# as the launch's error message, never as a process abort)
// - Argument count and types against the kernel's signature.
// - Divergent or never-completed barriers and warp operations (deadlock): the kernel, block and lines are named.
// - Invalid memory accesses: faults are caught while a kernel runs (SIGSEGV/SIGBUS/SIGFPE on the worker threads)
//   and described relative to the buffers passed as arguments (EmulatedDevice puts guard pages around every
//   allocation, so reading or writing just past the end of a buffer faults), to the fiber stacks (overflow) and
//   to dynamic shared memory (a guard page follows it).
// - __trap() raises an error.
// - Grid barriers: every thread of a block must arrive (as for __syncthreads); a grid_sync in a launch that is not
//   cooperative, and blocks waiting at a grid barrier that a block has left by exiting, are errors; when a block
//   fails, the blocks waiting at a grid barrier are abandoned.
#pragma once

#include <algorithm>
#include <atomic>
#include <climits>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#if !defined(__x86_64__)
#define RFF_EMU_UCONTEXT 1
#endif

// ---- CUDA qualifiers ---------------------------------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static thread_local
#define __constant__ static

// ---- vector and index types ---------------------------------------------------------------------------------
struct uint3 { unsigned int x, y, z; };
struct dim3
{
    unsigned int x, y, z;
    dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct __attribute__((aligned(8))) float2 { float x, y; };
struct float3 { float x, y, z; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
struct __attribute__((aligned(8))) uint2 { unsigned int x, y; };
struct __attribute__((aligned(16))) uint4 { unsigned int x, y, z, w; };
struct __attribute__((aligned(16))) double2 { double x, y; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float3 make_float3(float x, float y, float z) { return {x, y, z}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned int x, unsigned int y) { return {x, y}; }
inline uint4 make_uint4(unsigned int x, unsigned int y, unsigned int z, unsigned int w) { return {x, y, z, w}; }
inline double2 make_double2(double x, double y) { return {x, y}; }

static const int warpSize = 32;

namespace rff_emu
{
// ---- fibers ---------------------------------------------------------------------------------------------------
// A cp.async a thread issued and has not waited for yet (cuda_emulator_tensor.h): `group` is its commit group, or
// Uncommitted before the thread's next cp.async.commit_group.
struct AsyncCopy
{
    static constexpr uint32_t Uncommitted = UINT32_MAX;
    char* dst;
    const char* src;
    uint32_t bytes, src_bytes, group;
};

struct Fiber
{
    void* sp = nullptr;  // saved stack pointer (x86-64 switch)
#ifdef RFF_EMU_UCONTEXT
    ucontext_t context;
#endif
    uint3 tid{};
    int linear = 0, warp = 0, lane = 0;
    int state = 0;  // Runnable, Barrier, Warp, Exited
    int line = 0;   // source line of the barrier or warp operation it waits at
    char* stack_low = nullptr;
    std::vector<AsyncCopy> copies;  // cp.async issued, not yet completed
    uint32_t committed_groups = 0;  // cp.async.commit_group calls so far
};
enum FiberState { Runnable = 0, AtBarrier = 1, AtWarp = 2, Exited = 3 };

enum WarpKind { ShflIdx = 1, ShflUp, ShflDown, ShflXor, Ballot, Any, All, SyncWarp, Collective };

// A warp-collective instruction of a whole warp (mma.sync, ldmatrix): every lane deposits a pointer to its operands
// and, once all 32 have arrived, `complete` runs once (on the last lane to arrive) with the 32 pointers in lane order.
struct CollectiveOp
{
    const char* name;
    void (*complete)(void* const* lanes);
};
inline const char* warp_kind_name(int kind)
{
    switch (kind)
    {
    case ShflIdx: return "__shfl_sync";
    case ShflUp: return "__shfl_up_sync";
    case ShflDown: return "__shfl_down_sync";
    case ShflXor: return "__shfl_xor_sync";
    case Ballot: return "__ballot_sync";
    case Any: return "__any_sync";
    case All: return "__all_sync";
    case SyncWarp: return "__syncwarp";
    case Collective: return "a warp-collective instruction";
    default: return "?";
    }
}

struct Warp
{
    uint32_t present = 0;  // lanes that exist (the last warp of a block may be partial)
    uint32_t arrived = 0;
    uint32_t exited = 0;
    int kind = 0, line = 0;
    uint32_t mask = 0;
    const CollectiveOp* collective = nullptr;  // kind Collective: which instruction
    uint64_t value[32];
    int32_t arg[32];
    int32_t width[32];
    uint64_t result[32];

    const char* name() const { return kind == Collective && collective ? collective->name : warp_kind_name(kind); }
};

// One kernel argument as C# passes it: the value's bits, its kind (a letter: p pointer, i int, u unsigned,
// l long long, L unsigned long long, f float, d double) and, for pointers, the allocation it points into.
struct Arg
{
    uint64_t bits;
    int32_t kind;
    int32_t reserved;
    uint64_t lo, hi;
};

struct Options
{
    uint64_t seed;
    int32_t shuffle;
    int32_t threads;
    int32_t stack_kib;
    int32_t cooperative;  // nonzero: cuLaunchCooperativeKernel (all blocks co-resident, grid barriers allowed)
};

struct KernelInfo
{
    const char* name;
    const char* signature;
    void (*invoke)(const Arg*);
};

template <class T> struct always_false : std::false_type {};

template <class T> constexpr char kind_of()
{
    if constexpr (std::is_pointer_v<T>) return 'p';
    else if constexpr (std::is_same_v<T, float>) return 'f';
    else if constexpr (std::is_same_v<T, double>) return 'd';
    else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool> && sizeof(T) == 4)
        return std::is_signed_v<T> ? 'i' : 'u';
    else if constexpr (std::is_integral_v<T> && sizeof(T) == 8)
        return std::is_signed_v<T> ? 'l' : 'L';
    else
    {
        static_assert(always_false<T>::value, "kernel parameters must be pointers, 32/64-bit integers, float or double");
        return '?';
    }
}

template <class T> inline T unpack(const Arg& a)
{
    if constexpr (std::is_pointer_v<T>)
        return reinterpret_cast<T>(static_cast<uintptr_t>(a.bits));
    else
    {
        T v;
        std::memcpy(&v, &a.bits, sizeof(T));
        return v;
    }
}

template <class F> struct Signature;
template <class... P> struct Signature<void (*)(P...)>
{
    static constexpr char kinds[sizeof...(P) + 1] = {kind_of<std::decay_t<P>>()..., '\0'};
    template <void (*Fn)(P...), size_t... I> static void call(const Arg* a, std::index_sequence<I...>)
    {
        Fn(unpack<std::decay_t<P>>(a[I])...);
        (void)a;
    }
    template <void (*Fn)(P...)> static void invoke(const Arg* a) { call<Fn>(a, std::index_sequence_for<P...>{}); }
};

// ---- launch and per-worker state ------------------------------------------------------------------------------
struct Launch
{
    const KernelInfo* kernel = nullptr;
    const Arg* args = nullptr;
    int nargs = 0;
    dim3 grid, block;
    size_t shared_bytes = 0;
    bool shuffle = false;
    uint64_t seed = 0;
    size_t stack_bytes = 0;
    std::vector<uint64_t> block_order;  // linear block indices, in the order they are handed out
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::string error;

    // Cooperative launches: the grid barrier. `arrived` blocks wait in generation `generation`; `exited` blocks have
    // finished (they can never arrive again).
    bool cooperative = false;
    std::mutex grid_mutex;
    std::condition_variable grid_released;
    uint64_t blocks = 0, arrived = 0, exited = 0, generation = 0;
    int grid_line = 0;

    void fail(const std::string& message)
    {
        {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!failed.exchange(true)) error = message;
        }
        std::lock_guard<std::mutex> lock(grid_mutex);
        grid_released.notify_all();  // blocks waiting at a grid barrier give up
    }

    std::string grid_deadlock() const
    {
        return std::to_string(arrived) + " blocks wait at the grid barrier (line " + std::to_string(grid_line) + ") while " +
               std::to_string(exited) + " blocks have exited; every block of a cooperative launch must reach every grid_sync";
    }

    // The block's last thread arrives at the grid barrier: waits until every block has arrived (true), or returns false
    // with `message` when the launch failed or the barrier can never complete.
    bool arrive_at_grid(int line, std::string& message)
    {
        std::unique_lock<std::mutex> lock(grid_mutex);
        if (arrived == 0) grid_line = line;
        const uint64_t mine = generation;
        if (++arrived == blocks)
        {
            arrived = 0;
            generation++;
            grid_released.notify_all();
            return true;
        }
        grid_released.wait(lock, [&] { return generation != mine || failed.load() || arrived + exited == blocks; });
        if (generation != mine) return true;
        message = failed.load() ? "abandoned at the grid barrier: another block failed" : grid_deadlock();
        return false;
    }

    void block_exited()
    {
        std::lock_guard<std::mutex> lock(grid_mutex);
        exited++;
        if (arrived > 0 && arrived + exited == blocks) grid_released.notify_all();
    }
};

struct Runner;
extern thread_local Runner* t_runner;
extern thread_local Fiber* t_fiber;

extern "C" void rff_emu_switch(void** save_sp, void* load_sp);
extern "C" void rff_emu_fiber_start();

inline void fiber_main();

struct Runner
{
    std::vector<Fiber> fibers;
    char* stacks = nullptr;
    size_t stack_bytes = 0, stack_slots = 0, stacks_mapped = 0;
    char* shared_map = nullptr;
    size_t shared_mapped = 0;
    char* shared = nullptr;  // dynamic shared memory of the running block (ends at a guard page)
    size_t shared_bytes = 0;
    void* sched_sp = nullptr;
#ifdef RFF_EMU_UCONTEXT
    ucontext_t sched_context;
#endif
    Launch* launch = nullptr;
    uint3 block_idx{};
    unsigned threads = 0;
    std::vector<int> queue;  // ring buffer of runnable fibers
    size_t head = 0, count = 0;
    std::vector<Warp> warps;
    std::vector<int> waiting;  // fibers at the block barrier
    std::vector<int> grid_waiting;  // fibers at a grid barrier (cooperative launches)
    int grid_line = 0;
    std::vector<int> lanes;    // scratch: the lanes a warp operation releases
    int barrier_line = 0;
    unsigned live = 0;
    bool in_fiber = false;
    bool failed = false;
    std::string error;
    std::mt19937_64 rng;
    uint32_t mxcsr_fpucw[2] = {0x1f80, 0x037f};
    char* altstack = nullptr;

    void push(int i)
    {
        queue[(head + count) % queue.size()] = i;
        count++;
    }

    void release(std::vector<int>& ids)
    {
        if (launch->shuffle) std::shuffle(ids.begin(), ids.end(), rng);
        for (int i : ids)
        {
            fibers[i].state = Runnable;
            push(i);
        }
    }

    void ensure_stacks(unsigned n, size_t bytes)
    {
        const size_t page = (size_t)sysconf(_SC_PAGESIZE);
        bytes = (bytes + page - 1) / page * page;
        if (n <= stack_slots && bytes == stack_bytes) return;
        if (stacks) munmap(stacks, stacks_mapped);
        stack_bytes = bytes;
        stack_slots = std::max<size_t>(n, 32);
        stacks_mapped = stack_slots * (stack_bytes + page);
        void* p = mmap(nullptr, stacks_mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
        {
            stacks = nullptr;
            stack_slots = 0;
            throw std::runtime_error("cannot map fiber stacks");
        }
        stacks = (char*)p;
        for (size_t i = 0; i < stack_slots; i++) mprotect(stacks + i * (stack_bytes + page), page, PROT_NONE);
    }

    void ensure_shared(size_t bytes)
    {
        const size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t rounded = (bytes + 15) / 16 * 16;
        size_t need = (rounded + page - 1) / page * page + page;
        if (need > shared_mapped)
        {
            if (shared_map) munmap(shared_map, shared_mapped);
            void* p = mmap(nullptr, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED)
            {
                shared_map = nullptr;
                shared_mapped = 0;
                throw std::runtime_error("cannot map shared memory");
            }
            shared_map = (char*)p;
            shared_mapped = need;
            mprotect(shared_map + need - page, page, PROT_NONE);
        }
        shared = shared_map + shared_mapped - page - rounded;
        shared_bytes = bytes;
    }

    std::string where() const
    {
        char buffer[160];
        std::snprintf(buffer, sizeof buffer, "kernel '%s' block (%u,%u,%u)", launch->kernel->name, block_idx.x, block_idx.y,
                      block_idx.z);
        return buffer;
    }

    std::string thread_name(const Fiber& f) const
    {
        char buffer[64];
        std::snprintf(buffer, sizeof buffer, "thread (%u,%u,%u)", f.tid.x, f.tid.y, f.tid.z);
        return buffer;
    }

    // Called on a fiber: records the error and never returns (the block is abandoned).
    [[noreturn]] void fail_in_fiber(const std::string& message)
    {
        failed = true;
        error = message;
        void* dead;
        Fiber* f = t_fiber;
#ifdef RFF_EMU_UCONTEXT
        swapcontext(&f->context, &sched_context);
        (void)dead;
#else
        (void)f;
        rff_emu_switch(&dead, sched_sp);
#endif
        __builtin_unreachable();
    }

    void yield()
    {
        Fiber* f = t_fiber;
#ifdef RFF_EMU_UCONTEXT
        swapcontext(&f->context, &sched_context);
#else
        rff_emu_switch(&f->sp, sched_sp);
#endif
    }

    void init_fiber(Fiber& f)
    {
        const size_t page = (size_t)sysconf(_SC_PAGESIZE);
        char* low = stacks + (size_t)f.linear * (stack_bytes + page) + page;
        f.stack_low = low;
        char* top = low + stack_bytes;
#ifdef RFF_EMU_UCONTEXT
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = low;
        f.context.uc_stack.ss_size = stack_bytes;
        f.context.uc_link = nullptr;
        makecontext(&f.context, (void (*)())fiber_main, 0);
#else
        uint64_t* sp = (uint64_t*)top - 8;
        std::memcpy(&sp[0], mxcsr_fpucw, 8);         // mxcsr, x87 control word
        sp[1] = 0;                                   // r15
        sp[2] = 0;                                   // r14
        sp[3] = (uint64_t)(uintptr_t)&fiber_main;    // r13: entry
        sp[4] = 0;                                   // r12
        sp[5] = 0;                                   // rbx
        sp[6] = 0;                                   // rbp
        sp[7] = (uint64_t)(uintptr_t)&rff_emu_fiber_start;
        f.sp = sp;
#endif
    }

    void run_block(uint64_t linear_block)
    {
        const dim3 g = launch->grid, b = launch->block;
        block_idx = uint3{(unsigned)(linear_block % g.x), (unsigned)(linear_block / g.x % g.y), (unsigned)(linear_block / g.x / g.y)};
        threads = b.x * b.y * b.z;
        if (fibers.size() < threads) fibers.resize(threads);
        if (queue.size() != threads) queue.assign(threads, 0);
        head = count = 0;
        unsigned nwarps = (threads + 31) / 32;
        warps.assign(nwarps, Warp{});
        for (unsigned w = 0; w < nwarps; w++)
        {
            unsigned lanes = std::min(32u, threads - w * 32);
            warps[w].present = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
        }
        waiting.clear();
        barrier_line = 0;
        grid_waiting.clear();
        grid_line = 0;
        if (shared_bytes) std::memset(shared, 0xff, shared_bytes);
        std::vector<int> order(threads);
        for (unsigned i = 0; i < threads; i++)
        {
            Fiber& f = fibers[i];
            f.linear = (int)i;
            f.tid = uint3{i % b.x, i / b.x % b.y, i / b.x / b.y};
            f.warp = (int)(i / 32);
            f.lane = (int)(i % 32);
            f.state = Runnable;
            f.line = 0;
            f.copies.clear();
            f.committed_groups = 0;
            init_fiber(f);
            order[i] = (int)i;
        }
        live = threads;
        release(order);
        while (count > 0)
        {
            int i = queue[head];
            head = (head + 1) % queue.size();
            count--;
            t_fiber = &fibers[i];
            in_fiber = true;
#ifdef RFF_EMU_UCONTEXT
            swapcontext(&sched_context, &fibers[i].context);
#else
            rff_emu_switch(&sched_sp, fibers[i].sp);
#endif
            in_fiber = false;
            t_fiber = nullptr;
            if (failed) return;
        }
        if (live > 0) fail_deadlock();
    }

    void fail_deadlock()
    {
        std::string message = where() + ": the block cannot finish: ";
        unsigned exited = threads - live;
        if (!waiting.empty())
        {
            message += std::to_string(waiting.size()) + " threads wait at __syncthreads (line " + std::to_string(barrier_line) + ")";
            if (exited) message += " while " + std::to_string(exited) + " threads have exited";
            unsigned at_warp = 0;
            for (unsigned i = 0; i < threads; i++) at_warp += fibers[i].state == AtWarp;
            if (at_warp) message += " and " + std::to_string(at_warp) + " threads wait at a warp operation";
            message += "; every thread of a block must reach the same __syncthreads";
        }
        else if (!grid_waiting.empty())
            message += std::to_string(grid_waiting.size()) + " threads wait at the grid barrier (line " + std::to_string(grid_line) +
                       ") while " + std::to_string(threads - live) + " threads have exited or wait elsewhere; every thread must reach it";
        else
        {
            for (size_t w = 0; w < warps.size(); w++)
            {
                const Warp& wp = warps[w];
                if (!wp.arrived) continue;
                char buffer[256];
                std::snprintf(buffer, sizeof buffer,
                              "warp %zu: lanes 0x%08x wait at %s (line %d, mask 0x%08x) that lanes 0x%08x never reach%s", w,
                              wp.arrived, wp.name(), wp.line, wp.mask, wp.mask & wp.present & ~wp.arrived,
                              (wp.mask & wp.exited & ~wp.arrived) ? " (they have exited)" : "");
                message += buffer;
                break;
            }
        }
        failed = true;
        error = message;
    }

    // ---- operations called on fibers ----
    void sync_block(int line)
    {
        Fiber* f = t_fiber;
        if (!grid_waiting.empty())
            fail_in_fiber(where() + ": " + thread_name(*f) + " waits at __syncthreads (line " + std::to_string(line) + ") while " +
                          std::to_string(grid_waiting.size()) + " threads wait at the grid barrier (line " + std::to_string(grid_line) + ")");
        if (waiting.empty())
            barrier_line = line;
        else if (line != barrier_line)
            fail_in_fiber(where() + ": divergent __syncthreads: " + thread_name(*f) + " waits at line " + std::to_string(line) +
                          " while " + std::to_string(waiting.size()) + " threads wait at line " + std::to_string(barrier_line));
        f->state = AtBarrier;
        f->line = line;
        waiting.push_back(f->linear);
        if (waiting.size() == threads)
        {
            release(waiting);
            waiting.clear();
        }
        yield();
    }

    // A grid-wide barrier (cooperative launches only): the block's threads gather as at __syncthreads, then the last
    // to arrive holds this worker thread until every block of the grid has arrived.
    void sync_grid(int line)
    {
        Fiber* f = t_fiber;
        if (!launch->cooperative)
            fail_in_fiber(where() + ": grid barrier at line " + std::to_string(line) +
                          " in a launch that is not cooperative: only cuLaunchCooperativeKernel guarantees that every block is resident");
        if (!waiting.empty())
            fail_in_fiber(where() + ": " + thread_name(*f) + " waits at the grid barrier (line " + std::to_string(line) + ") while " +
                          std::to_string(waiting.size()) + " threads wait at __syncthreads (line " + std::to_string(barrier_line) + ")");
        if (grid_waiting.empty())
            grid_line = line;
        else if (line != grid_line)
            fail_in_fiber(where() + ": divergent grid barriers: " + thread_name(*f) + " waits at line " + std::to_string(line) +
                          " while " + std::to_string(grid_waiting.size()) + " threads wait at line " + std::to_string(grid_line));
        f->state = AtBarrier;
        f->line = line;
        grid_waiting.push_back(f->linear);
        if (grid_waiting.size() == threads)
        {
            std::string message;
            if (!launch->arrive_at_grid(line, message)) fail_in_fiber(where() + ": " + message);
            release(grid_waiting);
            grid_waiting.clear();
        }
        yield();
    }

    // A warp operation: a shuffle or vote, __syncwarp, or (kind Collective) the collective instruction `collective`.
    uint64_t warp_op(int kind, int line, uint32_t mask, uint64_t value, int arg, int width, const CollectiveOp* collective = nullptr)
    {
        Fiber* f = t_fiber;
        Warp& w = warps[f->warp];
        const uint32_t bit = 1u << f->lane;
        if (kind == Collective && w.present != 0xffffffffu)
            fail_in_fiber(where() + ": " + collective->name + " at line " + std::to_string(line) + ": warp " + std::to_string(f->warp) +
                          " has " + std::to_string(__builtin_popcount(w.present)) + " lanes; the instruction needs all 32 (.aligned)");
        if (!(mask & bit))
        {
            char buffer[160];
            std::snprintf(buffer, sizeof buffer, ": %s at line %d: lane %d calls it with mask 0x%08x, which does not name it",
                          warp_kind_name(kind), line, f->lane, mask);
            fail_in_fiber(where() + buffer);
        }
        if (width <= 0 || width > 32 || (width & (width - 1)))
            fail_in_fiber(where() + ": " + warp_kind_name(kind) + " at line " + std::to_string(line) + ": width " +
                          std::to_string(width) + " is not a power of 2 in [1, 32]");
        if (w.arrived == 0)
        {
            w.kind = kind;
            w.line = line;
            w.mask = mask;
            w.collective = collective;
        }
        else if (w.kind != kind || w.mask != mask || w.collective != collective)
        {
            char buffer[320];
            std::snprintf(buffer, sizeof buffer,
                          ": divergent warp operations in warp %d: lane %d is at %s (line %d, mask 0x%08x) while lanes 0x%08x "
                          "are at %s (line %d, mask 0x%08x)",
                          f->warp, f->lane, collective ? collective->name : warp_kind_name(kind), line, mask, w.arrived, w.name(),
                          w.line, w.mask);
            fail_in_fiber(where() + buffer);
        }
        w.value[f->lane] = value;
        w.arg[f->lane] = arg;
        w.width[f->lane] = width;
        w.arrived |= bit;
        f->state = AtWarp;
        f->line = line;
        const uint32_t required = mask & w.present;
        if ((w.arrived & required) == required) complete_warp(w, f->warp);
        yield();
        return w.result[f->lane];
    }

    void complete_warp(Warp& w, int warp_index)
    {
        const uint32_t arrived = w.arrived;
        if (w.kind == Collective)
        {
            void* operands[32];
            for (int lane = 0; lane < 32; lane++) operands[lane] = reinterpret_cast<void*>(static_cast<uintptr_t>(w.value[lane]));
            w.collective->complete(operands);
        }
        else
            shuffle_or_vote(w, warp_index);
        lanes.clear();
        for (int lane = 0; lane < 32; lane++)
            if (arrived >> lane & 1) lanes.push_back(warp_index * 32 + lane);
        w.arrived = 0;
        release(lanes);
    }

    // Every arrived lane's result of a shuffle, vote or __syncwarp.
    void shuffle_or_vote(Warp& w, int warp_index)
    {
        const uint32_t arrived = w.arrived;
        uint32_t votes = 0;
        for (int lane = 0; lane < 32; lane++)
            if ((arrived >> lane & 1) && w.value[lane] != 0) votes |= 1u << lane;
        for (int lane = 0; lane < 32; lane++)
        {
            if (!(arrived >> lane & 1)) continue;
            const int width = w.width[lane], base = lane & ~(width - 1);
            int src = lane;
            switch (w.kind)
            {
            case ShflIdx: src = base + (w.arg[lane] & (width - 1)); break;
            case ShflUp: src = lane - w.arg[lane] >= base ? lane - w.arg[lane] : lane; break;
            case ShflDown: src = lane + w.arg[lane] < base + width ? lane + w.arg[lane] : lane; break;
            case ShflXor: src = lane ^ w.arg[lane]; src = (src >= 0 && src < 32 && src < base + width) ? src : lane; break;
            default: break;
            }
            switch (w.kind)
            {
            case Ballot: w.result[lane] = votes & arrived; break;
            case Any: w.result[lane] = (votes & arrived) != 0; break;
            case All: w.result[lane] = (votes & arrived) == arrived; break;
            case SyncWarp: w.result[lane] = 0; break;
            default:
                if (!(arrived >> src & 1))
                {
                    char buffer[200];
                    std::snprintf(buffer, sizeof buffer, ": %s at line %d in warp %d: lane %d reads lane %d, which does not take part",
                                  warp_kind_name(w.kind), w.line, warp_index, lane, src);
                    fail_in_fiber(where() + buffer);
                }
                w.result[lane] = w.value[src];
            }
        }
    }

    void exit_fiber()
    {
        Fiber* f = t_fiber;
        f->state = Exited;
        warps[f->warp].exited |= 1u << f->lane;
        live--;
        void* dead;
#ifdef RFF_EMU_UCONTEXT
        (void)dead;
        swapcontext(&f->context, &sched_context);
#else
        rff_emu_switch(&dead, sched_sp);
#endif
        __builtin_unreachable();
    }
};

inline void fiber_main()
{
    Runner* r = t_runner;
    r->launch->kernel->invoke(r->launch->args);
    t_runner->exit_fiber();
}

// ---- API used by kernels ---------------------------------------------------------------------------------------
inline Fiber& fiber() { return *t_fiber; }
inline Runner& runner() { return *t_runner; }

template <class T> inline uint64_t to_bits(T v)
{
    static_assert(sizeof(T) <= 8, "warp operations take values of at most 8 bytes");
    uint64_t bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    return bits;
}
template <class T> inline T from_bits(uint64_t bits)
{
    T v;
    std::memcpy(&v, &bits, sizeof(T));
    return v;
}
template <class T> inline T shfl(int kind, int line, unsigned mask, T value, int arg, int width)
{
    return from_bits<T>(t_runner->warp_op(kind, line, mask, to_bits(value), arg, width));
}
inline unsigned vote(int kind, int line, unsigned mask, int predicate)
{
    return (unsigned)t_runner->warp_op(kind, line, mask, predicate != 0, 0, 32);
}
[[noreturn]] inline void trap(int line)
{
    t_runner->fail_in_fiber(t_runner->where() + ", " + t_runner->thread_name(*t_fiber) + ": __trap() at line " + std::to_string(line));
}
}  // namespace rff_emu

#define threadIdx (::rff_emu::t_fiber->tid)
#define blockIdx (::rff_emu::t_runner->block_idx)
#define blockDim (::rff_emu::t_runner->launch->block)
#define gridDim (::rff_emu::t_runner->launch->grid)

#define __syncthreads() ::rff_emu::t_runner->sync_block(__LINE__)
#define rff_emu_grid_sync() ::rff_emu::t_runner->sync_grid(__LINE__)
#define __syncwarp(...) ::rff_emu::rff_syncwarp(__LINE__, ##__VA_ARGS__)
#define __shfl_sync(mask, value, ...) ::rff_emu::shfl_idx(__LINE__, mask, value, __VA_ARGS__)
#define __shfl_up_sync(mask, value, ...) ::rff_emu::shfl_up(__LINE__, mask, value, __VA_ARGS__)
#define __shfl_down_sync(mask, value, ...) ::rff_emu::shfl_down(__LINE__, mask, value, __VA_ARGS__)
#define __shfl_xor_sync(mask, value, ...) ::rff_emu::shfl_xor(__LINE__, mask, value, __VA_ARGS__)
#define __ballot_sync(mask, predicate) ::rff_emu::vote(::rff_emu::Ballot, __LINE__, mask, predicate)
#define __any_sync(mask, predicate) ((int)::rff_emu::vote(::rff_emu::Any, __LINE__, mask, predicate))
#define __all_sync(mask, predicate) ((int)::rff_emu::vote(::rff_emu::All, __LINE__, mask, predicate))
#define __trap() ::rff_emu::trap(__LINE__)

namespace rff_emu
{
inline void rff_syncwarp(int line, unsigned mask = 0xffffffffu) { t_runner->warp_op(SyncWarp, line, mask, 0, 0, 32); }
template <class T> inline T shfl_idx(int line, unsigned mask, T v, int src, int width = 32) { return shfl(ShflIdx, line, mask, v, src, width); }
template <class T> inline T shfl_up(int line, unsigned mask, T v, unsigned delta, int width = 32) { return shfl(ShflUp, line, mask, v, (int)delta, width); }
template <class T> inline T shfl_down(int line, unsigned mask, T v, unsigned delta, int width = 32) { return shfl(ShflDown, line, mask, v, (int)delta, width); }
template <class T> inline T shfl_xor(int line, unsigned mask, T v, int lane_mask, int width = 32) { return shfl(ShflXor, line, mask, v, lane_mask, width); }
}  // namespace rff_emu

inline unsigned __activemask()
{
    const auto& w = ::rff_emu::t_runner->warps[::rff_emu::t_fiber->warp];
    return w.present & ~w.exited;
}
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void* rff_emu_dynamic_shared() { return ::rff_emu::t_runner->shared; }

#include "cuda_emulator_tensor.h"

// ---- atomics (blocks may run on several worker threads) --------------------------------------------------------
template <class T> inline T atomicAdd(T* address, T value)
{
    if constexpr (std::is_floating_point_v<T>)
    {
        T old, desired;
        __atomic_load(address, &old, __ATOMIC_RELAXED);
        do desired = old + value;
        while (!__atomic_compare_exchange(address, &old, &desired, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
        return old;
    }
    else
        return __atomic_fetch_add(address, value, __ATOMIC_SEQ_CST);
}
template <class T> inline T atomicSub(T* address, T value) { return __atomic_fetch_sub(address, value, __ATOMIC_SEQ_CST); }
template <class T> inline T atomicExch(T* address, T value)
{
    T old;
    __atomic_exchange(address, &value, &old, __ATOMIC_SEQ_CST);
    return old;
}
template <class T> inline T atomicCAS(T* address, T compare, T value)
{
    __atomic_compare_exchange_n(address, &compare, value, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return compare;
}
template <class T> inline T atomicMax(T* address, T value)
{
    T old = __atomic_load_n(address, __ATOMIC_RELAXED);
    while (old < value && !__atomic_compare_exchange_n(address, &old, value, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {}
    return old;
}
template <class T> inline T atomicMin(T* address, T value)
{
    T old = __atomic_load_n(address, __ATOMIC_RELAXED);
    while (old > value && !__atomic_compare_exchange_n(address, &old, value, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {}
    return old;
}
template <class T> inline T atomicAnd(T* address, T value) { return __atomic_fetch_and(address, value, __ATOMIC_SEQ_CST); }
template <class T> inline T atomicOr(T* address, T value) { return __atomic_fetch_or(address, value, __ATOMIC_SEQ_CST); }
template <class T> inline T atomicXor(T* address, T value) { return __atomic_fetch_xor(address, value, __ATOMIC_SEQ_CST); }

// ---- math the kernels use ---------------------------------------------------------------------------------------
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline void sincosf(float x, float* s, float* c) { *s = sinf(x); *c = cosf(x); }
inline void __sincosf(float x, float* s, float* c) { *s = sinf(x); *c = cosf(x); }
inline float normcdff(float x) { return 0.5f * erfcf(-x * 0.70710678118654752f); }
inline float __int_as_float(int v) { return ::rff_emu::from_bits<float>((uint32_t)v); }
inline int __float_as_int(float v) { return (int)(uint32_t)::rff_emu::to_bits(v); }
inline float __uint_as_float(unsigned v) { return ::rff_emu::from_bits<float>(v); }
inline unsigned __float_as_uint(float v) { return (uint32_t)::rff_emu::to_bits(v); }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) { return (unsigned long long)(((unsigned __int128)a * b) >> 64); }
template <class T> inline T __ldg(const T* p) { return *p; }

// ---- registration ------------------------------------------------------------------------------------------------
#define RFF_EMU_KERNEL_ENTRY(name)                                                                                \
    {#name, ::rff_emu::Signature<decltype(&name)>::kinds,                                                       \
     &::rff_emu::Signature<decltype(&name)>::template invoke<&name>},
#define RFF_EMU_REGISTER(table)                                                                                   \
    namespace rff_emu { const KernelInfo kernels[] = {table(RFF_EMU_KERNEL_ENTRY)};                               \
                        const int kernel_count = (int)(sizeof(kernels) / sizeof(kernels[0])); }

namespace rff_emu
{
extern const KernelInfo kernels[];
extern const int kernel_count;
}  // namespace rff_emu

// ---- runtime: context switch, worker pool, fault handling, exported entry points ---------------------------------
#ifndef RFF_EMU_UCONTEXT
// rff_emu_switch(save, load): saves the callee-saved registers, MXCSR and the x87 control word on the current stack,
// stores the stack pointer in *save, switches to the stack `load` and restores the same from it. A new fiber's stack
// is prepared by Runner::init_fiber so that the first switch "returns" into rff_emu_fiber_start.
asm(R"(
    .text
    .globl rff_emu_switch
    .hidden rff_emu_switch
    .type rff_emu_switch,@function
rff_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size rff_emu_switch, .-rff_emu_switch

    .globl rff_emu_fiber_start
    .hidden rff_emu_fiber_start
    .type rff_emu_fiber_start,@function
rff_emu_fiber_start:
    .cfi_startproc
    .cfi_undefined rip
    callq *%r13
    ud2
    .cfi_endproc
    .size rff_emu_fiber_start, .-rff_emu_fiber_start
)");
#else
extern "C" void rff_emu_switch(void**, void*) { std::abort(); }
extern "C" void rff_emu_fiber_start() { std::abort(); }
#endif

namespace rff_emu
{
thread_local Runner* t_runner = nullptr;
thread_local Fiber* t_fiber = nullptr;

// A fault while a fiber runs: describe it and abandon the block. Otherwise: the previous handler's business.
struct FaultHandlers
{
    struct sigaction previous[3];
    static constexpr int signals[3] = {SIGSEGV, SIGBUS, SIGFPE};
};
inline FaultHandlers g_faults;

inline std::string describe_fault(Runner* r, int sig, siginfo_t* info, void* context)
{
    char buffer[320];
    if (sig == SIGFPE)
    {
        std::snprintf(buffer, sizeof buffer, "arithmetic fault (%s)",
                      info->si_code == FPE_INTDIV ? "integer division by zero" : "SIGFPE");
        return buffer;
    }
    const uintptr_t a = (uintptr_t)info->si_addr;
    const char* access = "access";
#if defined(__x86_64__)
    const ucontext_t* uc = (const ucontext_t*)context;
    access = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? "write" : "read";
#else
    (void)context;
#endif
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const Fiber* f = t_fiber;
    if (f && a < (uintptr_t)f->stack_low && a + page >= (uintptr_t)f->stack_low)
    {
        std::snprintf(buffer, sizeof buffer, "stack overflow (fiber stacks are %zu KiB; EmulatorOptions.StackKib raises it)",
                      r->stack_bytes / 1024);
        return buffer;
    }
    if (r->shared && a >= (uintptr_t)r->shared + r->shared_bytes && a < (uintptr_t)r->shared_map + r->shared_mapped)
    {
        std::snprintf(buffer, sizeof buffer, "out-of-bounds %s of dynamic shared memory: %zu bytes past its end (%zu bytes)",
                      access, (size_t)(a - (uintptr_t)r->shared - r->shared_bytes), r->shared_bytes);
        return buffer;
    }
    int best = -1;
    uintptr_t best_distance = UINTPTR_MAX;
    for (int i = 0; i < r->launch->nargs; i++)
    {
        const Arg& arg = r->launch->args[i];
        if (arg.kind != 'p' || arg.hi <= arg.lo) continue;
        uintptr_t d = a >= arg.hi ? a - arg.hi : (a < arg.lo ? arg.lo - a : 0);
        if (d < best_distance) best_distance = d, best = i;
    }
    if (best >= 0 && best_distance < (1u << 20))
    {
        const Arg& arg = r->launch->args[best];
        if (a >= arg.hi)
            std::snprintf(buffer, sizeof buffer, "out-of-bounds %s at 0x%zx: %zu bytes past the end of the buffer of argument %d (%zu bytes)",
                          access, (size_t)a, (size_t)(a - arg.hi), best, (size_t)(arg.hi - arg.lo));
        else
            std::snprintf(buffer, sizeof buffer, "out-of-bounds %s at 0x%zx: %zu bytes before the start of the buffer of argument %d (%zu bytes)",
                          access, (size_t)a, (size_t)(arg.lo - a), best, (size_t)(arg.hi - arg.lo));
        return buffer;
    }
    std::snprintf(buffer, sizeof buffer, "invalid memory %s at 0x%zx (%s)", access, (size_t)a, sig == SIGBUS ? "SIGBUS" : "SIGSEGV");
    return buffer;
}

inline void on_fault(int sig, siginfo_t* info, void* context)
{
    Runner* r = t_runner;
    if (r != nullptr && r->in_fiber && t_fiber != nullptr)
        r->fail_in_fiber(r->where() + ", " + r->thread_name(*t_fiber) + ": " + describe_fault(r, sig, info, context));
    int index = sig == SIGSEGV ? 0 : sig == SIGBUS ? 1 : 2;
    const struct sigaction& p = g_faults.previous[index];
    if (p.sa_flags & SA_SIGINFO)
    {
        if (p.sa_sigaction) p.sa_sigaction(sig, info, context);
        return;
    }
    if (p.sa_handler == SIG_IGN) return;
    if (p.sa_handler == SIG_DFL)
    {
        signal(sig, SIG_DFL);  // the faulting instruction runs again and takes the default action
        return;
    }
    p.sa_handler(sig);
}

inline void install_fault_handlers()
{
    static std::once_flag once;
    std::call_once(once, [] {
        for (int i = 0; i < 3; i++)
        {
            struct sigaction action;
            std::memset(&action, 0, sizeof action);
            action.sa_sigaction = on_fault;
            action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
            sigemptyset(&action.sa_mask);
            sigaction(FaultHandlers::signals[i], &action, &g_faults.previous[i]);
        }
    });
}

inline uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Worker threads live for the life of the process (never joined); each owns a Runner.
struct Pool
{
    std::mutex mutex;
    std::condition_variable start, done;
    std::vector<std::thread*> threads;
    Launch* launch = nullptr;
    uint64_t generation = 0;
    int wanted = 0, active = 0;

    void ensure(int n)
    {
        while ((int)threads.size() < n)
        {
            int index = (int)threads.size();
            threads.push_back(new std::thread([this, index] { worker(index); }));
            threads.back()->detach();
        }
    }

    void worker(int index)
    {
        Runner* r = new Runner();
        t_runner = r;
        const size_t alt_bytes = 256 * 1024;
        void* alt = mmap(nullptr, alt_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (alt != MAP_FAILED)
        {
            stack_t ss;
            ss.ss_sp = alt;
            ss.ss_size = alt_bytes;
            ss.ss_flags = 0;
            sigaltstack(&ss, nullptr);
        }
        uint64_t seen = 0;
        for (;;)
        {
            Launch* l;
            {
                std::unique_lock<std::mutex> lock(mutex);
                start.wait(lock, [&] { return generation != seen; });
                seen = generation;
                if (index >= wanted) continue;
                l = launch;
            }
            run(r, l, index);
            {
                std::lock_guard<std::mutex> lock(mutex);
                if (--active == 0) done.notify_all();
            }
        }
    }

    // Worker `index` runs blocks as they are handed out; in a cooperative launch, exactly block_order[index].
    static void run(Runner* r, Launch* l, int index)
    {
        r->launch = l;
        r->failed = false;
        try
        {
            const unsigned threads = l->block.x * l->block.y * l->block.z;
            r->ensure_stacks(threads, l->stack_bytes);
            r->ensure_shared(l->shared_bytes);
            if (l->cooperative)
            {
                const uint64_t block = l->block_order[(size_t)index];
                r->rng.seed(mix(l->seed ^ mix(block)));
                r->run_block(block);
                if (r->failed)
                    l->fail(r->error);
                else
                    l->block_exited();
                return;
            }
            while (!l->failed.load())
            {
                size_t k = l->next++;
                if (k >= l->block_order.size()) break;
                r->rng.seed(mix(l->seed ^ mix(l->block_order[k])));
                r->run_block(l->block_order[k]);
                if (r->failed)
                {
                    l->fail(r->error);
                    break;
                }
            }
        }
        catch (const std::exception& e)
        {
            l->fail(std::string("emulator: ") + e.what());
        }
    }

    void execute(Launch* l, int workers)
    {
        std::unique_lock<std::mutex> lock(mutex);
        ensure(workers);
        launch = l;
        wanted = workers;
        active = workers;
        generation++;
        start.notify_all();
        done.wait(lock, [&] { return active == 0; });
        launch = nullptr;
    }
};

inline Pool& pool()
{
    static Pool* p = new Pool();  // never destroyed: its threads outlive static destruction
    return *p;
}

inline int copy_error(const std::string& message, char* error, int capacity)
{
    if (error && capacity > 0)
    {
        size_t n = std::min(message.size(), (size_t)capacity - 1);
        std::memcpy(error, message.data(), n);
        error[n] = '\0';
    }
    return 1;
}
}  // namespace rff_emu

#define RFF_EMU_EXPORT extern "C" __attribute__((visibility("default")))

RFF_EMU_EXPORT int rff_emu_kernel_count() { return rff_emu::kernel_count; }
RFF_EMU_EXPORT const char* rff_emu_kernel_name(int i) { return rff_emu::kernels[i].name; }
RFF_EMU_EXPORT const char* rff_emu_kernel_signature(int i) { return rff_emu::kernels[i].signature; }

// The most blocks of `threads` threads with `shared_bytes` of dynamic shared memory that a cooperative launch may
// have: the blocks an emulated H100 keeps resident at once (132 SMs of 2048 threads, 32 blocks and 228 KiB of shared
// memory each, 1 KiB of it reserved per block; registers are not modelled). 0 when one block does not fit.
RFF_EMU_EXPORT long long rff_emu_cooperative_blocks(unsigned threads, unsigned long long shared_bytes)
{
    const unsigned long long sms = 132, sm_threads = 2048, sm_blocks = 32, sm_shared = 228 * 1024, reserved = 1024;
    if (threads == 0 || threads > 1024 || shared_bytes > 227 * 1024) return 0;
    const unsigned long long per_sm = std::min({sm_threads / threads, sm_blocks, sm_shared / (shared_bytes + reserved)});
    return (long long)(sms * per_sm);
}

// Runs kernel `name` on grid x block with `shared_bytes` of dynamic shared memory; returns 0, or 1 with a message.
RFF_EMU_EXPORT int rff_emu_launch(const char* name, const unsigned* grid, const unsigned* block, unsigned long long shared_bytes,
                                  const rff_emu::Arg* args, int nargs, const rff_emu::Options* options, char* error, int capacity)
{
    using namespace rff_emu;
    static std::mutex launch_mutex;
    std::lock_guard<std::mutex> guard(launch_mutex);
    const KernelInfo* kernel = nullptr;
    for (int i = 0; i < kernel_count; i++)
        if (std::strcmp(kernels[i].name, name) == 0) kernel = &kernels[i];
    if (!kernel) return copy_error(std::string("no kernel named '") + name + "' in the kernel table", error, capacity);
    const int expected = (int)std::strlen(kernel->signature);
    if (nargs != expected)
        return copy_error(std::string("kernel '") + name + "' takes " + std::to_string(expected) + " arguments, got " +
                              std::to_string(nargs), error, capacity);
    for (int i = 0; i < nargs; i++)
        if (args[i].kind != kernel->signature[i])
            return copy_error(std::string("kernel '") + name + "' argument " + std::to_string(i) + ": the parameter is '" +
                                  kernel->signature[i] + "', the argument '" + (char)args[i].kind +
                                  "' (p pointer, i int, u unsigned, l long long, L unsigned long long, f float, d double)",
                              error, capacity);
    const unsigned long long threads = (unsigned long long)block[0] * block[1] * block[2];
    const unsigned long long blocks = (unsigned long long)grid[0] * grid[1] * grid[2];
    if (threads == 0 || threads > 1024 || block[2] > 64)
        return copy_error(std::string("kernel '") + name + "': invalid block (" + std::to_string(block[0]) + "," +
                              std::to_string(block[1]) + "," + std::to_string(block[2]) + "): 1 to 1024 threads, z <= 64",
                          error, capacity);
    if (blocks == 0 || grid[1] > 65535 || grid[2] > 65535 || grid[0] > 2147483647u)
        return copy_error(std::string("kernel '") + name + "': invalid grid (" + std::to_string(grid[0]) + "," +
                              std::to_string(grid[1]) + "," + std::to_string(grid[2]) + ")", error, capacity);
    if (shared_bytes > 227 * 1024)
        return copy_error(std::string("kernel '") + name + "': " + std::to_string(shared_bytes) +
                              " bytes of dynamic shared memory (at most 227 KiB)", error, capacity);
    const bool cooperative = options && options->cooperative;
    if (cooperative && (long long)blocks > rff_emu_cooperative_blocks((unsigned)threads, shared_bytes))
        return copy_error(std::string("kernel '") + name + "': CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE: a cooperative grid of " +
                              std::to_string(blocks) + " blocks of " + std::to_string(threads) + " threads with " +
                              std::to_string(shared_bytes) + " bytes of shared memory, but at most " +
                              std::to_string(rff_emu_cooperative_blocks((unsigned)threads, shared_bytes)) +
                              " can be resident at once (an emulated H100)", error, capacity);
    install_fault_handlers();
    Launch launch;
    launch.cooperative = cooperative;
    launch.blocks = blocks;
    launch.kernel = kernel;
    launch.args = args;
    launch.nargs = nargs;
    launch.grid = dim3(grid[0], grid[1], grid[2]);
    launch.block = dim3(block[0], block[1], block[2]);
    launch.shared_bytes = (size_t)shared_bytes;
    launch.shuffle = options && options->shuffle;
    launch.seed = options ? options->seed : 0;
    launch.stack_bytes = (size_t)(options && options->stack_kib > 0 ? options->stack_kib : 64) * 1024;
    launch.block_order.resize(blocks);
    for (unsigned long long b = 0; b < blocks; b++) launch.block_order[b] = b;
    if (launch.shuffle)
    {
        std::mt19937_64 rng(mix(launch.seed));
        std::shuffle(launch.block_order.begin(), launch.block_order.end(), rng);
    }
    int workers = options && options->threads > 0 ? options->threads : (int)std::min(8u, std::max(1u, std::thread::hardware_concurrency()));
    workers = cooperative ? (int)blocks : (int)std::min<unsigned long long>((unsigned long long)workers, blocks);
    pool().execute(&launch, workers);
    if (launch.failed) return copy_error(launch.error, error, capacity);
    return 0;
}
