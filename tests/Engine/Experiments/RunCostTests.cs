using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Tests.Engine.Experiments;

public sealed class RunCostTests
{
    [Fact]
    public void Forward_flops_are_the_matrix_products_and_causal_attention_counted_by_hand()
    {
        // baseline, per token: 6 layers x (2 x 12 x 512^2 + 2 x 2 x 512 x 513 / 2) + head 2 x 512 x 5
        double perToken = 6 * (2.0 * 12 * 512 * 512 + 2.0 * 512 * 513) + 2.0 * 512 * 5;
        Assert.Equal(40_905_728, perToken);
        Assert.Equal(perToken * 512, RunCost.ForwardFlopsPerSequence(ExperimentCatalog.PaperBaseline.Model, 512));
        // LSTM E 128 H 128, per token: 4 gates x 128 x (128 + 128) multiply-adds + head 128 x 5
        Assert.Equal(512 * (2.0 * 4 * 128 * 256 + 2.0 * 128 * 5), RunCost.ForwardFlopsPerSequence(ModelConfig.Lstm(128, 128), 512));
        Assert.Equal(3 * 16 * perToken * 512, RunCost.StepFlops(ExperimentCatalog.PaperBaseline));
    }

    [Fact]
    public void A_run_of_the_reference_step_alone_takes_the_reference_time()
    {
        foreach (var reference in RunCost.References)
        {
            var one = reference.Options with { Steps = 1, EvalEvery = 0, Offline = [] };
            var estimate = RunCost.Estimate(one, reference.Device);
            Assert.Equal(reference.Seconds, estimate.Hours * 3600, 9);
            Assert.Equal(reference.Measured, estimate.Measured);
        }
    }

    [Fact]
    public void Evaluations_count_every_online_evaluation_and_both_iterates_offline()
    {
        var o = ExperimentCatalog.PaperBaseline;
        double sequence = RunCost.ForwardFlopsPerSequence(o.Model, o.Length);
        // 10^4 steps, online every 100 steps on 10^3 sequences: 100 evaluations; offline 2 x (10^5 + 10^5 + 10^4)
        double expected = 10_000 * RunCost.StepFlops(o) + sequence * (100 * 1_000 + 2 * 210_000);
        Assert.Equal(expected, RunCost.RunFlops(o), 6);
        Assert.Equal(expected + sequence * 1_000, RunCost.RunFlops(o with { Steps = 10_050 }) - 50 * RunCost.StepFlops(o), 6);
    }

    [Fact]
    public void Paper_scale_is_far_more_expensive_than_quick_and_the_gpu_estimate_is_labelled_so()
    {
        foreach (var e in ExperimentCatalog.All)
        {
            double paper = e.Runs(Scale.Paper).Sum(r => RunCost.Estimate(r.Options, RunCost.Cpu).Hours);
            double quick = e.Runs(Scale.Quick).Sum(r => RunCost.Estimate(r.Options, RunCost.Cpu).Hours);
            Assert.True(paper > 100 * quick, $"{e.Name}: paper {paper} h, quick {quick} h");
            Assert.All(e.Runs(Scale.Paper), r => Assert.False(RunCost.Estimate(r.Options, RunCost.Gpu).Measured));
        }
    }
}
