using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Tests.Kernels.Random;

[Trait("Category", "Cpu")]
public class PhiloxTests
{
    // Known-answer vectors of Philox4x32-10 from Random123's kat_vectors.
    [Theory]
    [InlineData(0u, 0u, 0u, 0u, 0u, 0u, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u)]
    [InlineData(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu)]
    [InlineData(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u, 0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u)]
    public void Block_matches_Random123_known_answers(uint c0, uint c1, uint c2, uint c3, uint k0, uint k1, uint e0, uint e1, uint e2, uint e3)
    {
        var (x0, x1, x2, x3) = Philox.Block(c0, c1, c2, c3, k0, k1);
        Assert.Equal((e0, e1, e2, e3), (x0, x1, x2, x3));
    }

    [Fact]
    public void Fill_and_Word_agree_for_every_index_including_a_partial_last_block()
    {
        var words = new uint[23];
        Philox.Fill(0x0123456789ABCDEF, 42, RandomDomain.Dataset, words);
        for (int m = 0; m < words.Length; m++)
            Assert.Equal(Philox.Word(0x0123456789ABCDEF, 42, RandomDomain.Dataset, (ulong)m), words[m]);
    }

    [Fact]
    public void Streams_seeds_and_domains_are_distinct()
    {
        uint a = Philox.Word(1, 0, RandomDomain.Dataset, 0);
        Assert.NotEqual(a, Philox.Word(2, 0, RandomDomain.Dataset, 0));
        Assert.NotEqual(a, Philox.Word(1, 1, RandomDomain.Dataset, 0));
        Assert.NotEqual(a, Philox.Word(1, 0, RandomDomain.Training, 0));
        Assert.NotEqual(a, Philox.Word(1UL << 32, 0, RandomDomain.Dataset, 0));
    }

    [Fact]
    public void Unit_conversions_cover_zero_to_one_exclusive()
    {
        Assert.Equal(0f, Philox.ToUnitFloat(0));
        Assert.True(Philox.ToUnitFloat(uint.MaxValue) < 1f);
        Assert.Equal(0.5f, Philox.ToUnitFloat(0x80000000));
        Assert.Equal(0UL, Philox.Threshold(0));
        Assert.Equal(1UL << 32, Philox.Threshold(1));
        Assert.Equal(1UL << 31, Philox.Threshold(0.5));
    }
}
