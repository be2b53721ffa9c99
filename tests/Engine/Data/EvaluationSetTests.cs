using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Tests.Engine.Data;

[Trait("Category", "Cpu")]
public class EvaluationSetTests
{
    // Checksums of the fixed evaluation sets at their default sizes and T = 512. A change here means the
    // generator changed and every published error count would silently refer to other sequences.
    [Theory]
    [InlineData("indist", 10_000, 4177389725804565476UL, 264_096L)]
    [InlineData("sparse", 100_000, 16381554501882835954UL, 353_600L)]
    [InlineData("dense", 100_000, 8035907857245819404UL, 11_529_904L)]
    [InlineData("online", 1_000, 1391380307780727790UL, 3_498L)]
    public void Evaluation_sets_are_fixed(string name, int count, ulong checksum, long reads)
    {
        var set = EvaluationSets.ByName(name);
        Assert.Equal(count, set.DefaultCount);
        var data = set.Generate();
        Assert.Equal(count, data.Count);
        Assert.Equal(512, data.Length);
        Assert.Equal(checksum, data.Checksum());
        Assert.Equal(reads, DatasetStatistics.Of(data).Reads);
    }

    [Fact]
    public void A_smaller_set_is_a_prefix_of_the_larger_one()
    {
        var small = EvaluationSets.Dense.Generate(100);
        var large = EvaluationSets.Dense.Generate(1000);
        Assert.Equal(large.Slice(0, 100).Tokens, small.Tokens);
    }

    [Fact]
    public void Sets_differ_and_unknown_names_are_rejected()
    {
        Assert.NotEqual(EvaluationSets.Sparse.Generate(10).Tokens, EvaluationSets.Online.Generate(10).Tokens);
        Assert.Contains("unknown evaluation set 'foo'", Assert.Throws<ArgumentException>(() => EvaluationSets.ByName("foo")).Message);
    }
}
