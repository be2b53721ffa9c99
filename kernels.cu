// RawFlipFlop CUDA kernels. Compiled at run time by NVRTC (no #include: NVRTC runs without CUDA headers)
// and, for the emulator, as C++ by g++. Every entry point is `extern "C" __global__`, has a comment with its
// shapes above it, and is listed once in the kernel table at the end of this file.

// ---------------------------------------------------------------------------------------------------------
// Kernel table: every extern "C" __global__ entry point, once. The emulator registers kernels from it and a
// test checks it against the definitions above.
// ---------------------------------------------------------------------------------------------------------
#define RFF_KERNEL_TABLE(X)
