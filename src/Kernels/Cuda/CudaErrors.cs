namespace RawFlipFlop.Kernels.Cuda;

/// <summary>CUresult codes the engine treats specially, with their names for when the driver cannot name them.</summary>
public static class CudaErrors
{
    public const int InvalidImage = 200;
    public const int NoBinaryForGpu = 209;
    public const int InvalidPtx = 218;
    public const int JitCompilerNotFound = 221;
    public const int UnsupportedPtxVersion = 222;
    public const int JitCompilationDisabled = 223;

    /// <summary>
    /// Whether cuModuleLoadDataEx failed because of what the image is rather than the device's state: code from an
    /// NVRTC newer than the driver, a cubin for another GPU, PTX the driver cannot compile. Another NVRTC or PTX
    /// instead of a cubin may then work; other failures (out of memory, a broken context) end the search.
    /// </summary>
    public static bool IsIncompatibleImage(int code) =>
        code is InvalidImage or NoBinaryForGpu or InvalidPtx or JitCompilerNotFound or UnsupportedPtxVersion or JitCompilationDisabled;

    /// <summary>The name of a code listed here (null for others).</summary>
    public static string? KnownName(int code) => code switch
    {
        0 => "CUDA_SUCCESS",
        2 => "CUDA_ERROR_OUT_OF_MEMORY",
        100 => "CUDA_ERROR_NO_DEVICE",
        InvalidImage => "CUDA_ERROR_INVALID_IMAGE",
        NoBinaryForGpu => "CUDA_ERROR_NO_BINARY_FOR_GPU",
        InvalidPtx => "CUDA_ERROR_INVALID_PTX",
        JitCompilerNotFound => "CUDA_ERROR_JIT_COMPILER_NOT_FOUND",
        UnsupportedPtxVersion => "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
        JitCompilationDisabled => "CUDA_ERROR_JIT_COMPILATION_DISABLED",
        _ => null,
    };
}
