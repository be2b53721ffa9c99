namespace RawFlipFlop.Engine.Models;

/// <summary>
/// The places a dropout mask is drawn, numbered within one training step. A site's mask is Philox stream
/// step * PerStep + site of the dropout seed, so every (step, site) pair has a mask of its own as long as the
/// sites of a step stay below PerStep; <see cref="ModelConfig.Validate"/> refuses more layers than that allows.
/// </summary>
public static class DropoutSite
{
    /// <summary>Streams reserved for each step.</summary>
    public const int PerStep = 4096;

    /// <summary>The embedding output.</summary>
    public const int Embedding = 0;

    /// <summary>The attention weights of a layer, after the softmax.</summary>
    public static int Attention(int layer) => 1 + 2 * layer;

    /// <summary>The GELU output of a layer's feed-forward block.</summary>
    public static int FeedForward(int layer) => 2 + 2 * layer;

    /// <summary>The most layers whose sites fit one step: the last site, FeedForward(layers - 1) = 2 * layers, stays below PerStep.</summary>
    public const int MaxLayers = (PerStep - 1) / 2;

    /// <summary>The random stream of a site's mask at a step.</summary>
    public static ulong Stream(long step, int site)
    {
        if (site < 0 || site >= PerStep) throw new ArgumentOutOfRangeException(nameof(site), $"dropout site {site} outside 0..{PerStep - 1}");
        return (ulong)step * PerStep + (ulong)site;
    }
}
