using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Kernels.Gpu;

/// <summary>
/// The compile-time head-dimension attention kernels of kernels.cu (attention_{forward,backward_dq,backward_dkv}_d&lt;dh&gt;
/// plus _tf32 or _3xtf32), from its #defines: blocks of ATT_TILE_ROWS rows (16 per warp), ATT_TILE_KEYS-row stages,
/// tiles padded by ATT_PAD (ATT_PAD_KN for the forward's V). <see cref="SharedBytes"/> mirrors the layouts written
/// above attention_forward_tiled, attention_backward_dq_tiled and attention_backward_dkv_tiled.
/// </summary>
public sealed record AttentionGeometry(int Rows, int Keys, int Warps, int Pad, int PadKn)
{
    /// <summary>The head dimensions with compiled instances; others use the generic kernels.</summary>
    public static readonly int[] HeadDims = [16, 32, 64, 128];

    /// <summary>The three kernel families, in the table's order.</summary>
    public static readonly string[] Families = ["attention_forward", "attention_backward_dq", "attention_backward_dkv"];

    public static AttentionGeometry From(KernelSource source) => new(source.Define("ATT_TILE_ROWS"), source.Define("ATT_TILE_KEYS"),
        source.Define("ATT_TILE_THREADS") / source.Define("WARP_SIZE"), source.Define("ATT_PAD"), source.Define("ATT_PAD_KN"));

    static readonly Lazy<AttentionGeometry> s_default = new(() => From(KernelSource.Default));

    /// <summary>The geometry of kernels.cu.</summary>
    public static AttentionGeometry Default => s_default.Value;

    /// <summary>The instance of <paramref name="family"/> for head dimension <paramref name="dh"/> in <paramref name="precision"/>, or null (generic kernel).</summary>
    public static string? Kernel(string family, int dh, MatmulPrecision precision) => Array.IndexOf(HeadDims, dh) < 0 ? null : precision switch
    {
        MatmulPrecision.Tf32x3 => $"{family}_d{dh}_3xtf32",
        MatmulPrecision.Tf32 => $"{family}_d{dh}_tf32",
        _ => $"{family}_d{dh}",
    };

    /// <summary>The family and head dimension of an instance name, or null for any other kernel.</summary>
    public static (string Family, int Dh)? Parse(string kernel)
    {
        foreach (var family in Families)
        {
            if (!kernel.StartsWith(family + "_d", StringComparison.Ordinal)) continue;
            var rest = kernel[(family.Length + 2)..];
            int end = rest.IndexOf('_');
            if (int.TryParse(end < 0 ? rest : rest[..end], out int dh) && Array.IndexOf(HeadDims, dh) >= 0) return (family, dh);
        }
        return null;
    }

    /// <summary>The grid of every instance: (ceil(T / Rows), B*H).</summary>
    public Dim3 Grid(int b, int t, int heads) => new(Dim3.Blocks(t, Rows), (uint)(b * heads));

    /// <summary>Dynamic shared memory of an instance (bytes).</summary>
    public int SharedBytes(string family, int dh)
    {
        int ld = dh + Pad, perWarp = 16 * (Keys + Pad);  // (rows, dh) tiles; a warp's (16, keys) P or dS tile
        int floats = family switch
        {
            "attention_forward" => Rows * ld + 2 * Keys * ld + 2 * Keys * (dh + PadKn) + Warps * perWarp,  // Q; K, V stages; P
            "attention_backward_dq" => 2 * Rows * ld + 4 * Keys * ld + Warps * perWarp,                    // Q, dO; K, V stages; dS
            "attention_backward_dkv" => 2 * Rows * ld + 4 * Keys * ld + 2 * Keys * 3 + 2 * Warps * perWarp, // K, V; Q, dO, stats stages; P^T, dS^T
            _ => throw new ArgumentException($"not an attention family: {family}", nameof(family)),
        };
        return floats * sizeof(float);
    }

    /// <summary>Dynamic shared memory <paramref name="kernel"/> is launched with if it is an instance, else null.</summary>
    public int? SharedBytes(string kernel) => Parse(kernel) is { } p ? SharedBytes(p.Family, p.Dh) : null;
}
