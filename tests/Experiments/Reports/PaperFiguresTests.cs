using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Experiments.Reports;

namespace RawFlipFlop.Tests.Experiments.Reports;

public sealed class PaperFiguresTests
{
    static RunRecord Run(string experiment, string setting, int replicate) =>
        new($"{experiment}/{setting}/{replicate}", experiment, setting, replicate, "quick", "{}", "", 1, 101, "cpu", "test", RunStatus.Finished, 10, 1, "");

    static (RunRecord, EvaluationRecord) Eval(string experiment, string setting, int replicate, string split, long errors, Iterate iterate = Iterate.Final) =>
        (Run(experiment, setting, replicate), new EvaluationRecord(split, iterate, 100, 1000, errors, Math.Min(errors, 100), 10));

    [Fact]
    public void Quartiles_interpolate_between_order_statistics()
    {
        double[] sorted = [1, 2, 3, 4, 10];
        Assert.Equal((2.0, 3.0, 4.0), (PaperFigures.Quantile(sorted, 0.25), PaperFigures.Quantile(sorted, 0.5), PaperFigures.Quantile(sorted, 0.75)));
        Assert.Equal(2.5, PaperFigures.Quantile([1, 2, 3, 4], 0.5));
        Assert.Equal(7.0, PaperFigures.Quantile([7], 0.25));
        var box = PaperFigures.ErrorBox([0, 9, 99, 999, 9999], 2, 0.5, ScottPlot.Colors.Red);
        double[] drawn = [box.WhiskerMin!.Value, box.BoxMin, box.BoxMiddle!.Value, box.BoxMax, box.WhiskerMax!.Value];
        // log10(errors + 1) of 0, 9, 99, 999, 9999
        Assert.All(drawn.Zip([0.0, 1.0, 2.0, 3.0, 4.0]), p => Assert.Equal(p.Second, p.First, 12));
        Assert.Equal(2, box.Position);
    }

    [Fact]
    public void The_size_sweep_is_a_grid_by_layers_and_width_and_only_for_size_settings()
    {
        var evals = new List<(RunRecord, EvaluationRecord)>();
        foreach (int l in new[] { 1, 2 })
            foreach (int d in new[] { 16, 32, 64 })
                foreach (int h in new[] { 1, 2 })
                    for (int r = 0; r < 3; r++)
                        foreach (var split in new[] { "sparse", "dense" })
                            evals.Add(Eval("size-sweep", $"L{l}-d{d}-H{h}", r, split, l * d * h * r));
        using var dir = new TempDir();
        var files = PaperFigures.SizeSweepGrid(evals, "size-sweep").ToList();
        Assert.Equal(["size-sweep-size-grid.png", "size-sweep-size-grid.svg"], files.Select(f => f.Name));
        foreach (var (name, write) in files) write(dir.File(name));
        Assert.True(new FileInfo(dir.File("size-sweep-size-grid.png")).Length > 10_000);
        var svg = File.ReadAllText(dir.File("size-sweep-size-grid.svg"));
        Assert.Contains("<svg", svg);
        foreach (var title in new[] { "L 1, d 16", "L 1, d 64", "L 2, d 16", "L 2, d 64" }) Assert.Contains(title, svg);

        evals.Add(Eval("size-sweep", "baseline", 0, "sparse", 3));
        Assert.Empty(PaperFigures.SizeSweepGrid(evals, "size-sweep"));
    }

    [Fact]
    public void Seeds_are_a_data_by_model_grid_per_split()
    {
        var evals = new List<(RunRecord, EvaluationRecord)>();
        for (int i = 0; i < 5; i++)
            for (int j = 0; j < 5; j++)
            {
                evals.Add(Eval("seeds", $"data{i}-model{j}", 0, "sparse", i * 10 + j));
                evals.Add(Eval("seeds", $"data{i}-model{j}", 0, "dense", 0));
                evals.Add(Eval("seeds", $"data{i}-model{j}", 0, "sparse", 5000, Iterate.Best)); // best iterates are not drawn
            }
        using var dir = new TempDir();
        var files = PaperFigures.SeedGrids(evals, "seeds").ToList();
        Assert.Equal(["seeds-seeds-dense.png", "seeds-seeds-dense.svg", "seeds-seeds-sparse.png", "seeds-seeds-sparse.svg"], files.Select(f => f.Name));
        foreach (var (name, write) in files) write(dir.File(name));
        var svg = File.ReadAllText(dir.File("seeds-seeds-sparse.svg"));
        // every cell is labelled with its count: 0..4, 10..14, ..., 40..44 from the final iterates, never the best's 5000
        foreach (int n in new[] { 0, 14, 23, 44 }) Assert.Matches($@">\s*{n}\s*</text>", svg);
        Assert.DoesNotMatch(@">\s*5000\s*</text>", svg);
        Assert.Empty(PaperFigures.SeedGrids([Eval("seeds", "baseline", 0, "sparse", 1)], "seeds"));
    }
}
