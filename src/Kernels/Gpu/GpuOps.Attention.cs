using RawFlipFlop.Kernels.Cpu;
using RawFlipFlop.Kernels.Cuda;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

public sealed partial class GpuOps
{
    /// <summary>The ALiBi slopes (H) per head count, uploaded once.</summary>
    readonly Dictionary<int, Buf<float>> _alibiSlopes = [];

    /// <summary>saved (B,H,T,3) per row: logsumexp of the scores, the mean score under the softmax, and D = dO.O (filled by the backward).</summary>
    public long AttentionSavedLength(int b, int t, int heads) => (long)b * heads * t * 3;

    /// <summary>
    /// Keys per shared-memory tile (at most a warp's width) so that the kernel's tiles fit in
    /// <see cref="IKernelDevice.DefaultDynamicSharedBytes"/>, which every device grants without an opt-in.
    /// </summary>
    int KeyTile(int dh, int rowFloats, int perKeyExtra = 0)
    {
        int rows = _source.Define("ATT_ROWS");
        int maxDh = WarpSize * _source.Define("ATT_MAX_DH_PER_LANE");
        if (dh > maxDh) throw new NotSupportedException($"the GPU attention supports head dimensions up to {maxDh}, got {dh}");
        int free = IKernelDevice.DefaultDynamicSharedBytes / sizeof(float) - rows * rowFloats;
        int tile = Math.Min(WarpSize, free / (2 * (dh + 1) + perKeyExtra));
        if (tile < 1) throw new NotSupportedException($"head dimension {dh} does not fit the attention kernels' shared memory");
        return tile;
    }

    /// <summary>Dynamic shared memory of an attention kernel: two (tile, dh+1) tiles, (rows, rowFloats) row buffers, (tile, perKeyExtra) per-key values.</summary>
    static int SharedBytes(int dh, int tile, int rows, int rowFloats, int perKeyExtra = 0) =>
        sizeof(float) * (2 * tile * (dh + 1) + rows * rowFloats + tile * perKeyExtra);

    /// <summary>The slopes (H) buffer when ALiBi is on, else a null pointer.</summary>
    KernelArg Slopes(bool alibi, int heads)
    {
        if (!alibi) return KernelArg.Null;
        if (!_alibiSlopes.TryGetValue(heads, out var buffer))
        {
            var slopes = CpuOps<float>.AlibiSlopes(heads).Select(s => (float)s).ToArray();
            buffer = Device.Allocate<float>(heads);
            Device.Upload<float>(slopes, buffer);
            _alibiSlopes[heads] = buffer;
        }
        return buffer;
    }

    AttentionGeometry? _attention;
    AttentionGeometry Attention => _attention ??= AttentionGeometry.From(_source);

    int? _sharedLimit;

    /// <summary>Dynamic shared memory a block may opt into: the GPU's limit (99 KiB on sm_86 and sm_89, 163 KiB on sm_80, 227 KiB on sm_90); none in the emulator.</summary>
    int SharedLimit => _sharedLimit ??= Device is CudaDevice cuda ? cuda.Attribute(CudaDeviceAttribute.MaxSharedMemoryPerBlockOptin) : int.MaxValue;

    /// <summary>
    /// The compile-time head-dimension instance of each of <paramref name="families"/> for d_h = <paramref name="dh"/> in the options'
    /// precision, or null when one has no instance or needs more shared memory than the device grants (the caller runs the generic kernels).
    /// </summary>
    string[]? TiledKernels(int dh, AttentionOptions options, params string[] families)
    {
        var kernels = new string[families.Length];
        for (int i = 0; i < families.Length; i++)
        {
            if (AttentionGeometry.Kernel(families[i], dh, options.Precision) is not { } kernel || Attention.SharedBytes(families[i], dh) > SharedLimit)
                return null;
            kernels[i] = kernel;
        }
        return kernels;
    }

    /// <summary>Launches a tiled instance of <paramref name="family"/>: grid (ceil(T/64), B*H).</summary>
    void LaunchTiled(string kernel, string family, int dh, int b, int t, int heads, params ReadOnlySpan<KernelArg> args) =>
        Device.Launch(kernel, Attention.Grid(b, t, heads), Threads(kernel), Attention.SharedBytes(family, dh), args);

    /// <summary>
    /// output (B,T,C), saved (B,H,T,3) from qkv (B,T,3C): for d_h 16, 32, 64, 128 the tiled instances (64 query rows a block,
    /// products in the options' precision), else the generic kernel (a warp per query row, key tiles in shared memory).
    /// </summary>
    public void AttentionForward(Buf<float> output, Buf<float> saved, Buf<float> qkv, AttentionOptions options, int b, int t, int c, int heads)
    {
        CheckSize(saved, AttentionSavedLength(b, t, heads), "saved");
        int dh = c / heads, rows = _source.Define("ATT_ROWS");
        var d = options.Dropout;
        if (TiledKernels(dh, options, "attention_forward") is [var tiled])
        {
            LaunchTiled(tiled, "attention_forward", dh, b, t, heads, output, saved, qkv, t, c, heads, Slopes(options.Alibi, heads),
                options.InverseTemperature, d.Active ? d.P : 0f, d.Seed, d.Stream);
            return;
        }
        int tile = KeyTile(dh, dh);
        var grid = new Dim3(Dim3.Blocks(t, rows), (uint)(b * heads));
        Device.Launch("attention_forward", grid, Threads("attention_forward"), SharedBytes(dh, tile, rows, dh), output, saved, qkv,
            t, c, heads, Slopes(options.Alibi, heads), options.InverseTemperature, tile, d.Active ? d.P : 0f, d.Seed, d.Stream);
    }

    /// <summary>
    /// dqkv (B,T,3C) (overwritten) from doutput (B,T,C): D = dO.O into saved, then dq by query rows and dk, dv by key rows (the tiled
    /// instances for d_h 16, 32, 64, 128, else the generic kernels).
    /// </summary>
    public void AttentionBackward(Buf<float> dqkv, Buf<float> doutput, Buf<float> qkv, Buf<float> output, Buf<float> saved, float entropyScale,
        AttentionOptions options, int b, int t, int c, int heads)
    {
        int dh = c / heads, rows = _source.Define("ATT_ROWS");
        var d = options.Dropout;
        float p = d.Active ? d.P : 0f;
        Device.Launch("attention_backward_preprocess", WarpBlocks((long)b * heads * t, "attention_backward_preprocess"),
            Threads("attention_backward_preprocess"), 0, saved, doutput, output, b, t, c, heads);
        var slopes = Slopes(options.Alibi, heads);
        if (TiledKernels(dh, options, "attention_backward_dq", "attention_backward_dkv") is [var dq, var dkv])
        {
            LaunchTiled(dq, "attention_backward_dq", dh, b, t, heads, dqkv, doutput, qkv, saved, entropyScale, t, c, heads, slopes,
                options.InverseTemperature, p, d.Seed, d.Stream);
            LaunchTiled(dkv, "attention_backward_dkv", dh, b, t, heads, dqkv, doutput, qkv, saved, entropyScale, t, c, heads, slopes,
                options.InverseTemperature, p, d.Seed, d.Stream);
            return;
        }
        var grid = new Dim3(Dim3.Blocks(t, rows), (uint)(b * heads));
        int tileQ = KeyTile(dh, 2 * dh);
        Device.Launch("attention_backward_dq", grid, Threads("attention_backward_dq"), SharedBytes(dh, tileQ, rows, 2 * dh), dqkv, doutput, qkv,
            saved, entropyScale, t, c, heads, slopes, options.InverseTemperature, tileQ, p, d.Seed, d.Stream);
        int tileKv = KeyTile(dh, 2 * dh, 3);
        Device.Launch("attention_backward_dkv", grid, Threads("attention_backward_dkv"), SharedBytes(dh, tileKv, rows, 2 * dh, 3), dqkv, doutput,
            qkv, saved, entropyScale, t, c, heads, slopes, options.InverseTemperature, tileKv, p, d.Seed, d.Stream);
    }

    /// <summary>output (1) = sum of the entropies of the B*H*T rows, from saved (B,H,T,3): one block, fixed order.</summary>
    public void AttentionEntropyForward(Buf<float> output, Buf<float> saved, int b, int t, int heads) =>
        Device.Launch("attention_entropy_forward", 1, Threads("attention_entropy_forward"), 0, output, saved, (long)b * heads * t);

    /// <summary>probs (B,H,T,T) and, when not empty, scores (B,H,T,T) from qkv (B,T,3C): a warp per query row.</summary>
    public void AttentionProbabilities(Buf<float> probs, Buf<float> scores, Buf<float> qkv, AttentionOptions options, int b, int t, int c, int heads)
    {
        CheckSize(probs, (long)b * heads * t * t, "probs");
        if (!scores.IsEmpty) CheckSize(scores, (long)b * heads * t * t, "scores");
        Device.Launch("attention_probabilities", WarpBlocks((long)b * heads * t, "attention_probabilities"), Threads("attention_probabilities"), 0,
            probs, KernelArg.Of(scores), qkv, b, t, c, heads, Slopes(options.Alibi, heads), options.InverseTemperature);
    }

    void FreeAlibiSlopes()
    {
        foreach (var buffer in _alibiSlopes.Values) Device.Free(buffer);
        _alibiSlopes.Clear();
    }
}
