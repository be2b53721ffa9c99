using System.Globalization;
using System.Text.RegularExpressions;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.Training;
using ScottPlot;

namespace RawFlipFlop.Experiments.Reports;

/// <summary>
/// Figures drawn as the paper draws them: the errors of a setting's replicates as a box (quartiles, whiskers to the
/// extremes) with every run as a point on a log scale (Figure 3), the size sweep as small multiples by layers and
/// width (Figure 5), and the seeds experiment as a data-seed x model-seed grid (Figure 6).
/// </summary>
public static partial class PaperFigures
{
    /// <summary>log10(errors + 1): the paper's log axis with zero-error runs on the floor.</summary>
    public static double LogErrors(long errors) => Math.Log10(errors + 1);

    /// <summary>Quartiles by linear interpolation between order statistics (numpy's default), of sorted values.</summary>
    public static double Quantile(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0) throw new ArgumentException("no values");
        double at = q * (sorted.Count - 1);
        int lo = (int)Math.Floor(at), hi = Math.Min(lo + 1, sorted.Count - 1);
        return sorted[lo] + (at - lo) * (sorted[hi] - sorted[lo]);
    }

    /// <summary>A box of log errors at x: quartiles, median, whiskers to the least and greatest run.</summary>
    public static Box ErrorBox(IEnumerable<long> errors, double x, double width, Color color)
    {
        var sorted = errors.Select(LogErrors).Order().ToList();
        return new Box
        {
            Position = x, Width = width,
            BoxMin = Quantile(sorted, 0.25), BoxMax = Quantile(sorted, 0.75), BoxMiddle = Quantile(sorted, 0.5),
            WhiskerMin = sorted[0], WhiskerMax = sorted[^1],
            FillStyle = { Color = color.WithAlpha(0.25) }, LineStyle = { Color = color },
        };
    }

    [GeneratedRegex(@"^L(\d+)-d(\d+)-H(\d+)$")]
    private static partial Regex SizeSetting();

    [GeneratedRegex(@"^data(\d+)-model(\d+)$")]
    private static partial Regex SeedSetting();

    /// <summary>
    /// Figure 5: one panel per (layers, width), rows by layers and columns by width; in each panel the heads on x and
    /// the final iterates' errors of every split as box plus points. None unless every setting is named L{l}-d{d}-H{h}.
    /// </summary>
    public static IEnumerable<(string Name, Action<string> Write)> SizeSweepGrid(List<(RunRecord Run, EvaluationRecord Eval)> evals, string name)
    {
        var parsed = evals.Where(x => x.Eval.Iterate == Iterate.Final)
            .Select(x => (x.Eval, Match: SizeSetting().Match(x.Run.Setting))).ToList();
        if (parsed.Count == 0 || parsed.Any(p => !p.Match.Success)) return [];
        int Part(Match m, int i) => int.Parse(m.Groups[i].Value, CultureInfo.InvariantCulture);
        var points = parsed.Select(p => (L: Part(p.Match, 1), D: Part(p.Match, 2), H: Part(p.Match, 3), p.Eval)).ToList();
        int[] layers = [.. points.Select(p => p.L).Distinct().Order()], dims = [.. points.Select(p => p.D).Distinct().Order()],
              heads = [.. points.Select(p => p.H).Distinct().Order()];
        string[] splits = [.. points.Select(p => p.Eval.Split).Distinct().Order(StringComparer.Ordinal)];
        double top = Math.Max(1, points.Max(p => LogErrors(p.Eval.Errors)));
        var multiplot = new Multiplot();
        multiplot.AddPlots(layers.Length * dims.Length);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(layers.Length, dims.Length);
        var palette = new ScottPlot.Palettes.Category10();
        var jitter = new Random(0);
        for (int r = 0; r < layers.Length; r++)
            for (int c = 0; c < dims.Length; c++)
            {
                var plot = multiplot.GetPlot(r * dims.Length + c);
                plot.Title($"L {layers[r]}, d {dims[c]}", size: 12);
                double slot = 0.8 / splits.Length;
                for (int s = 0; s < splits.Length; s++)
                    for (int h = 0; h < heads.Length; h++)
                    {
                        var cell = points.Where(p => (p.L, p.D, p.H, p.Eval.Split) == (layers[r], dims[c], heads[h], splits[s])).ToList();
                        if (cell.Count == 0) continue;
                        double x = h - 0.4 + slot * (s + 0.5);
                        plot.Add.Box(ErrorBox(cell.Select(p => p.Eval.Errors), x, slot * 0.8, palette.GetColor(s)));
                        var dots = plot.Add.ScatterPoints(cell.Select(_ => x + (jitter.NextDouble() - 0.5) * slot * 0.5).ToArray(),
                            cell.Select(p => LogErrors(p.Eval.Errors)).ToArray());
                        dots.Color = palette.GetColor(s);
                        dots.MarkerSize = 4;
                        if (r == 0 && c == dims.Length - 1 && h == 0) dots.LegendText = splits[s];
                    }
                plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(heads.Select((v, i) => new Tick(i, $"H {v}")).ToArray());
                plot.Axes.SetLimits(-0.6, heads.Length - 0.4, -0.1, top * 1.05);
                if (c == 0) plot.YLabel("log10(errors + 1)");
                if (r == 0 && c == dims.Length - 1)
                {
                    plot.Legend.Alignment = Alignment.LowerRight;
                    plot.ShowLegend();
                }
            }
        int width = 260 * dims.Length + 120, height = 220 * layers.Length + 40;
        return
        [
            (name + "-size-grid.png", path => multiplot.SavePng(path, width, height)),
            (name + "-size-grid.svg", path => SaveSvg(multiplot, path, width, height)),
        ];
    }

    /// <summary>A multiplot as SVG (ScottPlot saves multiplots only as raster images).</summary>
    static void SaveSvg(Multiplot multiplot, string path, int width, int height)
    {
        using (var stream = File.Create(path))
        using (var canvas = SkiaSharp.SKSvgCanvas.Create(new SkiaSharp.SKRect(0, 0, width, height), stream))
            multiplot.Render(canvas, new PixelRect(0, width, height, 0));
    }

    /// <summary>
    /// Figure 6 (left): per split, a data seed x model seed grid of the final iterates' errors, coloured by
    /// log10(errors + 1) and labelled with the count (the mean where a cell has several replicates). None unless every
    /// setting is named data{i}-model{j}.
    /// </summary>
    public static IEnumerable<(string Name, Action<string> Write)> SeedGrids(List<(RunRecord Run, EvaluationRecord Eval)> evals, string name)
    {
        var parsed = evals.Where(x => x.Eval.Iterate == Iterate.Final).Select(x => (x.Eval, Match: SeedSetting().Match(x.Run.Setting))).ToList();
        if (parsed.Count == 0 || parsed.Any(p => !p.Match.Success)) return [];
        var cells = parsed.Select(p => (Data: int.Parse(p.Match.Groups[1].Value, CultureInfo.InvariantCulture),
                                        Model: int.Parse(p.Match.Groups[2].Value, CultureInfo.InvariantCulture), p.Eval)).ToList();
        int rows = cells.Max(c => c.Data) + 1, cols = cells.Max(c => c.Model) + 1;
        var files = new List<(string, Action<string>)>();
        foreach (var split in cells.Select(c => c.Eval.Split).Distinct().Order(StringComparer.Ordinal))
        {
            var values = new double[rows, cols];
            var plot = new Plot();
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++)
                {
                    var here = cells.Where(c => c.Data == i && c.Model == j && c.Eval.Split == split).Select(c => (double)c.Eval.Errors).ToList();
                    // ScottPlot draws grid row r at y = rows - 1 - r: fill reversed so data seed i sits at y = i
                    values[rows - 1 - i, j] = here.Count == 0 ? double.NaN : Math.Log10(here.Average() + 1);
                    if (here.Count == 0) continue;
                    var label = plot.Add.Text(here.Average().ToString(here.Count == 1 ? "0" : "0.#", CultureInfo.InvariantCulture), j, i);
                    label.Alignment = Alignment.MiddleCenter;
                    label.LabelFontSize = 14;
                    label.LabelFontColor = Colors.White;
                    label.LabelBold = true;
                }
            var heatmap = plot.Add.Heatmap(values);
            heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
            heatmap.Extent = new CoordinateRect(-0.5, cols - 0.5, -0.5, rows - 0.5);
            plot.MoveToBottom(heatmap);
            plot.Add.ColorBar(heatmap).Label = "log10(errors + 1)";
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(Enumerable.Range(0, cols).Select(j => new Tick(j, $"{j}")).ToArray());
            plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(Enumerable.Range(0, rows).Select(i => new Tick(i, $"{i}")).ToArray());
            plot.XLabel("model seed (initialisation)");
            plot.YLabel("data seed (training batches)");
            plot.Title($"{name}: read errors on {split} per seed pair (final iterates)");
            files.Add(($"{name}-seeds-{split}.png", path => plot.SavePng(path, 150 + 110 * cols, 120 + 100 * rows)));
            files.Add(($"{name}-seeds-{split}.svg", path => plot.SaveSvg(path, 150 + 110 * cols, 120 + 100 * rows)));
        }
        return files;
    }
}
