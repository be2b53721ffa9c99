using RawFlipFlop.Engine.Models;

namespace RawFlipFlop.Tests.Engine.Models;

[Trait("Category", "Cpu")]
public sealed class DropoutSiteTests
{
    [Fact]
    public void StreamsAreStepTimes4096PlusTheSite()
    {
        // the numbering every recorded run used: 0 embeddings, 1 + 2l attention, 2 + 2l feed-forward
        foreach (long step in new long[] { 0, 1, 7, 123_456 })
        {
            var options = new PassOptions { DropoutSeed = 3, Step = step };
            Assert.Equal((ulong)step * 4096, options.DropoutAt(0.1f, DropoutSite.Embedding).Stream);
            for (int l = 0; l < 4; l++)
            {
                Assert.Equal((ulong)step * 4096 + 1 + 2 * (ulong)l, options.DropoutAt(0.1f, DropoutSite.Attention(l)).Stream);
                Assert.Equal((ulong)step * 4096 + 2 + 2 * (ulong)l, options.DropoutAt(0.1f, DropoutSite.FeedForward(l)).Stream);
            }
            Assert.False(options.DropoutAt(0, DropoutSite.Embedding).Active);
        }
    }

    [Fact]
    public void EverySiteOfTheDeepestModelIsDistinctAndWithinOneStep()
    {
        int layers = DropoutSite.MaxLayers;
        var sites = Enumerable.Range(0, layers).SelectMany(l => new[] { DropoutSite.Attention(l), DropoutSite.FeedForward(l) })
            .Prepend(DropoutSite.Embedding).ToArray();
        Assert.Equal(sites.Length, sites.Distinct().Count());
        Assert.All(sites, site => Assert.InRange(site, 0, DropoutSite.PerStep - 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => DropoutSite.Stream(0, DropoutSite.FeedForward(layers)));
    }

    [Fact]
    public void ModelsWhoseSitesOverflowAStepAreRefused()
    {
        ModelConfig.Transformer(layers: DropoutSite.MaxLayers, dim: 4, heads: 1, maxLength: 4).Validate();
        var e = Assert.Throws<RawFlipFlop.Engine.Training.InvalidOptionException>(() => ModelConfig.Transformer(layers: DropoutSite.MaxLayers + 1, dim: 4, heads: 1, maxLength: 4).Validate());
        Assert.Contains($"layers: must be at most {DropoutSite.MaxLayers}", e.Message);
        Assert.Contains("2048", e.Message);
    }
}
