using System.Runtime.InteropServices;

namespace RawFlipFlop.Kernels.Cuda;

/// <summary>A CUDA driver API failure, named (e.g. CUDA_ERROR_OUT_OF_MEMORY) and described by the driver.</summary>
public sealed class CudaException : Exception
{
    public CudaException(string call, int code, string detail = "")
        : base($"{call} failed: {CudaDriver.ErrorName(code)} ({code}): {CudaDriver.ErrorString(code)}" + (detail.Length > 0 ? $"\n{detail}" : ""))
    {
        Code = code;
    }

    /// <summary>CUresult.</summary>
    public int Code { get; }
}

/// <summary>Device attributes (CUdevice_attribute) the engine reads.</summary>
public enum CudaDeviceAttribute
{
    MultiprocessorCount = 16,
    ComputeCapabilityMajor = 75,
    ComputeCapabilityMinor = 76,
    CooperativeLaunch = 95,
    MaxSharedMemoryPerBlockOptin = 97,
}

/// <summary>Function attributes (CUfunction_attribute) the engine reads or sets.</summary>
public enum CudaFunctionAttribute
{
    LocalSizeBytes = 3,
    NumRegs = 4,
    MaxDynamicSharedSizeBytes = 8,
}

/// <summary>LibraryImport bindings to the CUDA driver API (libcuda), the subset the engine uses.</summary>
public static unsafe partial class CudaDriver
{
    public const int CUDA_SUCCESS = 0;
    public const int CUDA_ERROR_NO_DEVICE = 100;
    internal const int CU_JIT_INFO_LOG_BUFFER = 3, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4;
    internal const int CU_JIT_ERROR_LOG_BUFFER = 5, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
    internal const uint CU_EVENT_DISABLE_TIMING = 2;
    // CUstreamCaptureMode: only this thread's unsafe calls (synchronisations, allocations) break the capture.
    internal const int CU_STREAM_CAPTURE_MODE_THREAD_LOCAL = 1;
    internal const int CU_STREAM_CAPTURE_STATUS_ACTIVE = 1;

    static CudaDriver() => NativeLibraries.Register();

    public static void Check(int rc, string call, string detail = "")
    {
        if (rc != CUDA_SUCCESS) throw new CudaException(call, rc, detail);
    }

    /// <summary>The CUresult's name from the driver (e.g. CUDA_ERROR_INVALID_VALUE), else from <see cref="CudaErrors"/>.</summary>
    public static string ErrorName(int code)
    {
        string fallback = CudaErrors.KnownName(code) ?? $"CUresult {code}";
        if (!NativeLibraries.TryCuda(out _)) return fallback;
        try { return cuGetErrorName(code, out nint s) == CUDA_SUCCESS ? Marshal.PtrToStringUTF8(s) ?? fallback : fallback; }
        catch (EntryPointNotFoundException) { return fallback; }
    }

    /// <summary>The CUDA version the driver supports (cuDriverGetVersion, which needs no device), or null with why not.</summary>
    public static Version? TryGetVersion(out string reason)
    {
        if (!NativeLibraries.TryCuda(out reason)) return null;
        try
        {
            int rc = cuDriverGetVersion(out int version);
            if (rc == CUDA_SUCCESS) return NvrtcSelection.DriverVersion(version);
            reason = $"cuDriverGetVersion failed: {ErrorName(rc)} ({rc})";
        }
        catch (EntryPointNotFoundException e)
        {
            reason = e.Message;
        }
        return null;
    }

    /// <summary>The driver's description of a CUresult.</summary>
    public static string ErrorString(int code)
    {
        if (!NativeLibraries.TryCuda(out _)) return "no driver to describe it";
        try { return cuGetErrorString(code, out nint s) == CUDA_SUCCESS ? Marshal.PtrToStringUTF8(s) ?? "?" : "unknown error"; }
        catch (EntryPointNotFoundException) { return "?"; }
    }

    // ---- errors, initialization, devices ----
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuGetErrorName(int error, out nint name);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuGetErrorString(int error, out nint text);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuInit(uint flags);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuDriverGetVersion(out int version);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuDeviceGetCount(out int count);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuDeviceGet(out int device, int ordinal);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuDeviceGetAttribute(out int value, CudaDeviceAttribute attribute, int device);
    [LibraryImport(NativeLibraries.Cuda, EntryPoint = "cuDeviceTotalMem_v2")] internal static partial int cuDeviceTotalMem(out nuint bytes, int device);

    // ---- primary context ----
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuDevicePrimaryCtxRetain(out nint context, int device);
    [LibraryImport(NativeLibraries.Cuda, EntryPoint = "cuDevicePrimaryCtxRelease_v2")] internal static partial int cuDevicePrimaryCtxRelease(int device);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuCtxSetCurrent(nint context);

    // ---- streams and events ----
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuStreamCreate(out nint stream, uint flags);
    [LibraryImport(NativeLibraries.Cuda, EntryPoint = "cuStreamDestroy_v2")] internal static partial int cuStreamDestroy(nint stream);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuStreamSynchronize(nint stream);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuEventCreate(out nint evt, uint flags);
    [LibraryImport(NativeLibraries.Cuda, EntryPoint = "cuEventDestroy_v2")] internal static partial int cuEventDestroy(nint evt);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuEventRecord(nint evt, nint stream);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuEventSynchronize(nint evt);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuEventElapsedTime(out float milliseconds, nint start, nint end);

    // ---- memory ----
    [LibraryImport(NativeLibraries.Cuda, EntryPoint = "cuMemAlloc_v2")] internal static partial int cuMemAlloc(out ulong pointer, nuint bytes);
    [LibraryImport(NativeLibraries.Cuda, EntryPoint = "cuMemFree_v2")] internal static partial int cuMemFree(ulong pointer);
    [LibraryImport(NativeLibraries.Cuda, EntryPoint = "cuMemcpyHtoDAsync_v2")] internal static partial int cuMemcpyHtoDAsync(ulong destination, void* source, nuint bytes, nint stream);
    [LibraryImport(NativeLibraries.Cuda, EntryPoint = "cuMemcpyDtoHAsync_v2")] internal static partial int cuMemcpyDtoHAsync(void* destination, ulong source, nuint bytes, nint stream);
    [LibraryImport(NativeLibraries.Cuda, EntryPoint = "cuMemcpyDtoDAsync_v2")] internal static partial int cuMemcpyDtoDAsync(ulong destination, ulong source, nuint bytes, nint stream);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuMemsetD8Async(ulong destination, byte value, nuint count, nint stream);

    // ---- page-locked host memory ----
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuMemHostAlloc(out nint pointer, nuint bytes, uint flags);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuMemFreeHost(nint pointer);

    // ---- graphs (stream capture; kernel nodes rewritten in the instantiated graph) ----
    [LibraryImport(NativeLibraries.Cuda, EntryPoint = "cuStreamBeginCapture_v2")] internal static partial int cuStreamBeginCapture(nint stream, int mode);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuStreamEndCapture(nint stream, out nint graph);
    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial int cuStreamGetCaptureInfo_v2(nint stream, out int status, out ulong id, out nint graph, out nint* dependencies, out nuint count);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuGraphInstantiateWithFlags(out nint exec, nint graph, ulong flags);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuGraphLaunch(nint exec, nint stream);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuGraphExecKernelNodeSetParams(nint exec, nint node, KernelNodeParams* parameters);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuGraphExecDestroy(nint exec);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuGraphDestroy(nint graph);

    // ---- modules and launches ----
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuModuleLoadDataEx(out nint module, void* image, uint numOptions, int* options, void** optionValues);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuModuleUnload(nint module);
    [LibraryImport(NativeLibraries.Cuda, StringMarshalling = StringMarshalling.Utf8)] internal static partial int cuModuleGetFunction(out nint function, nint module, string name);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuFuncGetAttribute(out int value, CudaFunctionAttribute attribute, nint function);
    [LibraryImport(NativeLibraries.Cuda)] internal static partial int cuFuncSetAttribute(nint function, CudaFunctionAttribute attribute, int value);
    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial int cuLaunchKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedBytes, nint stream, void** kernelParams, void** extra);
    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial int cuLaunchCooperativeKernel(nint function, uint gridX, uint gridY, uint gridZ, uint blockX, uint blockY, uint blockZ,
        uint sharedBytes, nint stream, void** kernelParams);
    [LibraryImport(NativeLibraries.Cuda)]
    internal static partial int cuOccupancyMaxActiveBlocksPerMultiprocessor(out int blocks, nint function, int blockSize, nuint dynamicSharedBytes);
}

/// <summary>CUDA_KERNEL_NODE_PARAMS (the v1 layout, which the unsuffixed cuGraphExecKernelNodeSetParams takes).</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct KernelNodeParams
{
    public nint Function;
    public uint GridX, GridY, GridZ;
    public uint BlockX, BlockY, BlockZ;
    public uint SharedBytes;
    public void** KernelParams;
    public void** Extra;
}
