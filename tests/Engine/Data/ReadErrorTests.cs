using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Tests.Engine.Data;

[Trait("Category", "Cpu")]
public class ReadErrorTests
{
    static byte[] Tokens(string text)
    {
        var t = new byte[text.Length];
        FlipFlopText.FromText(text, t);
        return t;
    }

    [Fact]
    public void Counts_reads_errors_sequences_and_dependency_lengths()
    {
        //                    0 2 4 6 8 10
        var seqA = Tokens("w1i0r1w0r0r0");
        var seqB = Tokens("w0r0i1i1r0r0");
        var tokens = seqA.Concat(seqB).ToArray();
        var pred = new int[tokens.Length];
        Array.Fill(pred, 99); // non-read positions are ignored whatever they hold
        // A: reads at 4 (bit 1), 8 (0), 10 (0). Predict 1 (right), 0 (right), 2 ('i', a non-bit: wrong).
        pred[4] = RawFlipFlop.Engine.Data.Tokens.One; pred[8] = RawFlipFlop.Engine.Data.Tokens.Zero; pred[10] = RawFlipFlop.Engine.Data.Tokens.Ignore;
        // B: reads at 2, 8, 10, all bit 0: predict right, right, wrong.
        pred[12 + 2] = RawFlipFlop.Engine.Data.Tokens.Zero; pred[12 + 8] = RawFlipFlop.Engine.Data.Tokens.Zero; pred[12 + 10] = RawFlipFlop.Engine.Data.Tokens.One;
        var counter = new ReadErrorCounter("unit");
        counter.Add(tokens, pred, 12);
        Assert.Equal(2, counter.Sequences);
        Assert.Equal(6, counter.Reads);
        Assert.Equal(2, counter.Errors);
        Assert.Equal(2, counter.SequencesWithErrors);
        Assert.Equal([(0L, 10), (1L, 10)], counter.FirstErrors);
        // dependency lengths: A: 4, 2, 4; B: 2, 8, 10
        Assert.Equal((2L, 1L), counter.ByDependency[4]);
        Assert.Equal((2L, 0L), counter.ByDependency[2]);
        Assert.Equal((1L, 0L), counter.ByDependency[8]);
        Assert.Equal((1L, 1L), counter.ByDependency[10]);
        var report = counter.Report(step: 7);
        Assert.Equal(new ReadErrorReport("unit", 2, 6, 2, 2, 7), report);
        Assert.Equal(1.0 / 3, report.ErrorRate, 12);
    }

    [Fact]
    public void Perfect_predictions_give_zero_errors_on_a_real_set()
    {
        var data = EvaluationSets.Online.Generate(200);
        var pred = new int[data.Tokens.Length];
        for (int i = 0; i + 1 < pred.Length; i++) pred[i] = data.Tokens[i + 1];
        var counter = new ReadErrorCounter("online");
        counter.Add(data.Tokens, pred, data.Length);
        Assert.Equal(DatasetStatistics.Of(data).Reads, counter.Reads);
        Assert.Equal(0, counter.Errors);
        Assert.Equal(0, counter.SequencesWithErrors);
    }
}
