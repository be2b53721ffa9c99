using RawFlipFlop.Engine.Analysis;
using ScottPlot;
using SkiaSharp;

namespace RawFlipFlop.Experiments.Reports;

/// <summary>
/// A grid of attention heatmaps, layers down and heads across (as the paper's Figures 10, 13 and 16): query rows
/// against keys, probabilities on a common 0..1 colour scale; writes marked above the keys (of 0: orange triangles, of 1:
/// blue diamonds), reads beside the queries, each row's largest weight as a white dot, and the rows whose prediction is
/// wrong as red marks.
/// </summary>
public static class AttentionGrid
{
    /// <summary>PNG and SVG writers of the grid, panels of <paramref name="panel"/> pixels.</summary>
    public static IReadOnlyList<(string Name, Action<string> Write)> Figures(AttentionInspection a, string name, string title, int panel = 320)
    {
        int rows = a.Layers.Count, cols = a.Heads.Count;
        int width = cols * panel, height = rows * panel + 40;
        Multiplot Build()
        {
            var multiplot = new Multiplot();
            multiplot.AddPlots(rows * cols);
            multiplot.Layout = new ScottPlot.MultiplotLayouts.Grid(rows, cols);
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    Panel(multiplot.GetPlot(r * cols + c), a, r, c, r == 0 && c == 0 ? title : null);
            return multiplot;
        }
        return
        [
            (name + ".png", path => Build().SavePng(path, width, height)),
            (name + ".svg", path =>
            {
                using var file = File.Create(path);
                using var stream = new SKManagedWStream(file);
                using (var canvas = SKSvgCanvas.Create(new SKRect(0, 0, width, height), stream))
                    Build().Render(canvas, new PixelRect(0, width, height, 0));
            }),
        ];
    }

    static void Panel(Plot plot, AttentionInspection a, int layer, int head, string? title)
    {
        int t = a.Length;
        var probs = a.Probabilities[layer][head];
        var grid = new double[t, t];
        // ScottPlot draws grid row r at y = rows - 1 - r: fill reversed so query row i sits at y = i
        for (int i = 0; i < t; i++)
            for (int j = 0; j < t; j++) grid[t - 1 - i, j] = probs[i * t + j];
        var heatmap = plot.Add.Heatmap(grid);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        var (writes, reads) = a.Landmarks();
        // as the paper marks them: writes of 0 (sigma0) orange, writes of 1 (sigma1) blue diamonds
        bool WritesOne(int j) => a.Automaton ? a.Tokens[j] == RawFlipFlop.Engine.Data.Automaton.Sigma1 : a.Tokens[j + 1] == RawFlipFlop.Engine.Data.Tokens.One;
        Marks(plot, writes.Where(j => !WritesOne(j)).Select(j => (double)j), _ => t + 0.5, Colors.Orange, MarkerShape.FilledTriangleDown);
        Marks(plot, writes.Where(WritesOne).Select(j => (double)j), _ => t + 0.5, Colors.RoyalBlue, MarkerShape.FilledDiamond);
        Marks(plot, reads.Select(i => (double)i), _ => -1.5, Colors.SkyBlue, MarkerShape.FilledTriangleUp, transpose: true);
        // each row's largest weight
        var maxima = Enumerable.Range(0, t).Select(i =>
        {
            int best = 0;
            for (int j = 1; j <= i; j++) if (probs[i * t + j] > probs[i * t + best]) best = j;
            return (X: (double)best, Y: (double)i);
        }).ToList();
        var dots = plot.Add.ScatterPoints(maxima.Select(m => m.X).ToArray(), maxima.Select(m => m.Y).ToArray());
        dots.Color = Colors.White;
        dots.MarkerSize = t <= 64 ? 4 : 2;
        Marks(plot, Enumerable.Range(0, t).Where(i => a.Errors[i]).Select(i => (double)i), _ => -3, Colors.Red, MarkerShape.FilledSquare, transpose: true);
        plot.Title(title == null ? $"layer {a.Layers[layer]}, head {a.Heads[head]}" : $"{title}\nlayer {a.Layers[layer]}, head {a.Heads[head]}");
        plot.Axes.SetLimits(-4, t + 1, -1, t + 2);
        plot.XLabel("key");
        plot.YLabel("query");
    }

    /// <summary>Markers at positions along the key axis (or, transposed, the query axis) at a fixed offset outside the map.</summary>
    static void Marks(Plot plot, IEnumerable<double> positions, Func<double, double> offset, Color color, MarkerShape shape, bool transpose = false)
    {
        var list = positions.ToList();
        if (list.Count == 0) return;
        double[] xs = transpose ? list.Select(offset).ToArray() : list.ToArray();
        double[] ys = transpose ? list.ToArray() : list.Select(offset).ToArray();
        var marks = plot.Add.ScatterPoints(xs, ys);
        marks.Color = color;
        marks.MarkerShape = shape;
        marks.MarkerSize = 5;
    }
}
