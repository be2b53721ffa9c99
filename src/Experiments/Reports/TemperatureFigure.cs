using System.Globalization;
using RawFlipFlop.Engine.Analysis;
using ScottPlot;

namespace RawFlipFlop.Experiments.Reports;

/// <summary>
/// The temperature probe drawn: read errors against the attention temperature (log2 T on x, log10(errors + 1) on y),
/// a line per evaluation set; and the mean attention-row entropy of each layer against T.
/// </summary>
public static class TemperatureFigure
{
    public static IEnumerable<(string Name, Action<string> Write)> Figures(IReadOnlyList<TemperaturePoint> points, string title)
    {
        var palette = new ScottPlot.Palettes.Category10();
        var errors = new Plot();
        var entropy = new Plot();
        int k = 0;
        foreach (var set in points.GroupBy(p => p.Split))
        {
            var ordered = set.OrderBy(p => p.Temperature).ToList();
            double[] xs = ordered.Select(p => Math.Log2(p.Temperature)).ToArray();
            var line = errors.Add.Scatter(xs, ordered.Select(p => Math.Log10(p.Errors + 1)).ToArray());
            line.Color = palette.GetColor(k++);
            line.LegendText = set.Key;
            int layers = ordered.Max(p => p.AttentionEntropy.Count);
            for (int l = 0; l < layers; l++)
            {
                var e = entropy.Add.Scatter(xs, ordered.Select(p => l < p.AttentionEntropy.Count ? p.AttentionEntropy[l] : double.NaN).ToArray());
                e.Color = palette.GetColor(k++);
                e.LegendText = $"{set.Key} layer {l}";
            }
        }
        var ticks = points.Select(p => p.Temperature).Distinct().Order()
            .Select(t => new Tick(Math.Log2(t), t.ToString("0.###", CultureInfo.InvariantCulture))).ToArray();
        foreach (var plot in new[] { errors, entropy })
        {
            plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
            plot.XLabel("attention temperature T (log scale; logits divided by T)");
            plot.ShowLegend(Edge.Right);
        }
        errors.Title($"{title}: read errors against attention temperature");
        errors.YLabel("log10(errors + 1)");
        entropy.Title($"{title}: mean attention-row entropy");
        entropy.YLabel("entropy (nats)");
        return
        [
            ("temperature.png", path => errors.SavePng(path, 900, 500)),
            ("temperature.svg", path => errors.SaveSvg(path, 900, 500)),
            ("temperature-entropy.png", path => entropy.SavePng(path, 900, 500)),
            ("temperature-entropy.svg", path => entropy.SaveSvg(path, 900, 500)),
        ];
    }
}
