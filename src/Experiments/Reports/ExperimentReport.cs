using System.Globalization;
using System.Text;
using RawFlipFlop.Engine.Analysis;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Engine.Training.Tasks;
using ScottPlot;

namespace RawFlipFlop.Experiments.Reports;

/// <summary>
/// `experiment report`: figures (PNG and SVG) and a Markdown summary from a results store: training curves with the
/// best-so-far line (Figures 2, 5), per-setting distributions of out-of-distribution errors across replicates on a
/// log scale as boxes plus points (Figures 3, 4), the size sweep as small multiples (Figure 5), the seeds as a grid
/// (Figure 6), a table of median / mean / best errors and zero-error runs, and the mechanistic attention heatmaps
/// (Figures 10, 11, 13, 16, 17) when the store has them. The header states the scale and replicate counts.
/// </summary>
public static class ExperimentReport
{
    public sealed record Result(string Markdown, IReadOnlyList<string> Figures);

    /// <summary>
    /// Writes report.md and the figures into <paramref name="outDir"/> as one set (replacing an earlier report of the
    /// directory at once); the store is only read.
    /// </summary>
    public static Result Write(string dbPath, string outDir)
    {
        using var store = ResultsStore.OpenReadOnly(dbPath);
        var runs = store.Runs();
        var figures = new List<(string Name, Action<string> Write)>();
        var md = new StringBuilder();
        md.AppendLine("# RawFlipFlop experiment report").AppendLine();
        md.AppendLine($"Store `{Path.GetFileName(dbPath)}`: {runs.Count} runs, {runs.Count(r => r.Status == RunStatus.Finished)} finished; " +
                      $"engine {string.Join(", ", runs.Select(r => r.EngineVersion).Distinct())}; backends {string.Join(", ", runs.Select(r => r.Backend).Distinct())}.").AppendLine();
        var scales = runs.Select(r => r.Scale).Distinct().Order(StringComparer.Ordinal).ToList();
        md.AppendLine($"Scale: {string.Join(", ", scales)}.").AppendLine();
        if (scales.Any(s => s != EnumText<Scale>.Of(Scale.Paper)))
            md.AppendLine($"> **Not the paper's numbers.** Runs at the {string.Join(" and ", scales.Where(s => s != EnumText<Scale>.Of(Scale.Paper)))} scale train " +
                          "smaller models on shorter sequences for fewer steps, with fewer replicates and smaller evaluation sets, than the paper. " +
                          "They exercise the pipeline and show the phenomena qualitatively; they do not reproduce the paper's error counts.").AppendLine();
        foreach (var experiment in runs.GroupBy(r => r.Experiment))
        {
            var list = experiment.ToList();
            md.AppendLine($"## {experiment.Key}").AppendLine();
            md.AppendLine(ReplicateLine(list)).AppendLine();
            figures.AddRange(Curves(store, list, experiment.Key));
            md.AppendLine($"![training curves]({experiment.Key}-curves.png)").AppendLine();
            var diagnostics = Diagnostics(store, list, experiment.Key);
            if (diagnostics.Count > 0)
            {
                figures.AddRange(diagnostics);
                md.AppendLine($"![attention entropy]({experiment.Key}-attention-entropy.png) ![weight norms]({experiment.Key}-weight-norms.png)").AppendLine();
            }
            var evals = list.SelectMany(r => store.Evals(r.Id).Select(e => (Run: r, Eval: e))).ToList();
            if (evals.Count > 0)
            {
                figures.AddRange(Distributions(evals, experiment.Key));
                md.AppendLine($"![error distributions]({experiment.Key}-errors.png)").AppendLine();
                md.AppendLine("| setting | iterate | split | runs | median errors | mean errors | best | zero-error runs | reads per run |");
                md.AppendLine("|---|---|---|---|---|---|---|---|---|");
                foreach (var g in evals.GroupBy(x => (x.Run.Setting, x.Eval.Iterate, x.Eval.Split)).OrderBy(g => g.Key.Setting).ThenBy(g => g.Key.Iterate).ThenBy(g => g.Key.Split))
                {
                    var errors = g.Select(x => (double)x.Eval.Errors).OrderBy(x => x).ToList();
                    double median = errors.Count % 2 == 1 ? errors[errors.Count / 2] : (errors[errors.Count / 2 - 1] + errors[errors.Count / 2]) / 2;
                    md.AppendLine($"| {g.Key.Setting} | {EnumText<Iterate>.Of(g.Key.Iterate)} | {g.Key.Split} | {errors.Count} | {median:0.#} | {errors.Average():0.##} | {errors[0]:0} | " +
                                  $"{errors.Count(e => e == 0)} | {g.Average(x => x.Eval.Reads):0} |");
                }
                md.AppendLine();
                foreach (var figure in (IEnumerable<(string Name, Action<string> Write)>)[.. PaperFigures.SizeSweepGrid(evals, experiment.Key), .. PaperFigures.SeedGrids(evals, experiment.Key)])
                {
                    figures.Add(figure);
                    if (figure.Name.EndsWith(".png", StringComparison.Ordinal))
                        md.AppendLine($"![{Path.GetFileNameWithoutExtension(figure.Name)}]({figure.Name})").AppendLine();
                }
                foreach (var split in evals.Select(x => x.Eval.Split).Distinct().Order(StringComparer.Ordinal))
                {
                    var figure = DependencyCurves(evals.Where(x => x.Eval.Split == split && x.Eval.Iterate == Iterate.Final).ToList(),
                        $"{experiment.Key}-dependency-{split}", $"{experiment.Key}: error rate by dependency length on {split} (final iterates)");
                    if (figure.Count == 0) continue;
                    figures.AddRange(figure);
                    md.AppendLine($"![error rate by dependency length on {split}]({experiment.Key}-dependency-{split}.png)").AppendLine();
                }
            }
            foreach (var run in list)
            {
                string maps = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(dbPath))!, "runs", run.Experiment, run.Setting,
                    run.Replicate.ToString(CultureInfo.InvariantCulture), AttentionMaps.FileName);
                if (!File.Exists(maps)) continue;
                foreach (var figure in Heatmaps(maps, $"{run.Experiment}-{run.Setting}-{run.Replicate}"))
                {
                    figures.Add(figure);
                    if (figure.Name.EndsWith(".png", StringComparison.Ordinal))
                        md.AppendLine($"![{Path.GetFileNameWithoutExtension(figure.Name)}]({figure.Name})").AppendLine();
                }
            }
        }
        string text = md.ToString();
        FileSet.PublishExclusive(outDir, [.. figures, ("report.md", path => AtomicFile.WriteAllText(path, text))]);
        return new Result(Path.Combine(outDir, "report.md"), figures.Select(f => Path.Combine(outDir, f.Name)).ToList());
    }

    /// <summary>The experiment's scale, settings and replicates per setting (with how many finished).</summary>
    static string ReplicateLine(List<RunRecord> runs)
    {
        var perSetting = runs.GroupBy(r => r.Setting).Select(g => g.Count()).ToList();
        string replicates = perSetting.Min() == perSetting.Max() ? $"{perSetting[0]}" : $"{perSetting.Min()} to {perSetting.Max()}";
        string Plural(int n, string word) => n == 1 ? $"{word}" : $"{word}s";
        return $"Scale {string.Join(", ", runs.Select(r => r.Scale).Distinct())}; {perSetting.Count} {Plural(perSetting.Count, "setting")}, " +
               $"{replicates} {Plural(perSetting.Max(), "replicate")} per setting; " +
               $"{runs.Count(r => r.Status == RunStatus.Finished)} of {runs.Count} runs finished.";
    }

    /// <summary>The PNG and SVG of a figure, written when the report is published.</summary>
    static IEnumerable<(string Name, Action<string> Write)> Save(Plot plot, string name, int width = 900, int height = 500) =>
    [
        (name + ".png", path => plot.SavePng(path, width, height)),
        (name + ".svg", path => plot.SaveSvg(path, width, height)),
    ];

    /// <summary>Loss per step (top) and online read errors with the best-so-far line (bottom), one colour per run.</summary>
    static IEnumerable<(string Name, Action<string> Write)> Curves(ResultsStore store, IReadOnlyList<RunRecord> runs, string name)
    {
        var files = new List<(string, Action<string>)>();
        var loss = new Plot();
        var online = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int k = 0;
        foreach (var run in runs)
        {
            var color = palette.GetColor(k++);
            var losses = store.Losses(run.Id);
            if (losses.Count > 0)
            {
                var line = loss.Add.SignalXY(Enumerable.Range(1, losses.Count).Select(x => (double)x).ToArray(), losses.ToArray());
                line.Color = color;
                line.LegendText = $"{run.Setting}/{run.Replicate}";
            }
            var curve = store.Online(run.Id);
            if (curve.Count > 0)
            {
                double[] steps = curve.Select(o => (double)o.Step).ToArray();
                double[] errors = curve.Select(o => Math.Log10(o.Errors + 1)).ToArray();
                var s = online.Add.Scatter(steps, errors);
                s.Color = color;
                s.LegendText = $"{run.Setting}/{run.Replicate}";
                double best = double.MaxValue;
                double[] bestSoFar = curve.Select(o => Math.Log10((best = Math.Min(best, o.Errors)) + 1)).ToArray();
                var b = online.Add.Scatter(steps, bestSoFar);
                b.Color = color;
                b.LinePattern = LinePattern.Dashed;
                b.MarkerSize = 0;
            }
        }
        loss.Title($"{name}: training loss");
        loss.XLabel("step");
        loss.YLabel("cross-entropy");
        loss.ShowLegend(Edge.Right);
        files.AddRange(Save(loss, name + "-curves-loss"));
        online.Title($"{name}: online read errors (dashed: best so far)");
        online.XLabel("step");
        online.YLabel("log10(errors + 1)");
        online.ShowLegend(Edge.Right);
        files.AddRange(Save(online, name + "-curves"));
        return files;
    }

    /// <summary>
    /// Errors of every run (log scale) as the paper's Figure 3: one column per setting, one coloured series per split
    /// and iterate (final, best-so-far), each a box of the replicates (quartiles, whiskers to the extremes) with every
    /// run as a point jittered within the series' slot.
    /// </summary>
    static IEnumerable<(string Name, Action<string> Write)> Distributions(List<(RunRecord Run, EvaluationRecord Eval)> evals, string name)
    {
        var plot = new Plot();
        var settings = evals.Select(x => x.Run.Setting).Distinct().ToList();
        var series = evals.Select(x => (x.Eval.Split, x.Eval.Iterate)).Distinct().OrderBy(x => x.Split).ThenBy(x => x.Iterate).ToList();
        var palette = new ScottPlot.Palettes.Category10();
        var random = new Random(0);
        double slot = 0.8 / series.Count;
        for (int k = 0; k < series.Count; k++)
        {
            var points = evals.Where(x => (x.Eval.Split, x.Eval.Iterate) == series[k]).ToList();
            foreach (var setting in points.GroupBy(x => x.Run.Setting))
                plot.Add.Box(PaperFigures.ErrorBox(setting.Select(x => x.Eval.Errors), settings.IndexOf(setting.Key) - 0.4 + slot * (k + 0.5), slot * 0.8, palette.GetColor(k)));
            double[] xs = points.Select(x => settings.IndexOf(x.Run.Setting) - 0.4 + slot * (k + 0.5) + (random.NextDouble() - 0.5) * slot * 0.6).ToArray();
            double[] ys = points.Select(x => Math.Log10(x.Eval.Errors + 1)).ToArray();
            var s = plot.Add.ScatterPoints(xs, ys);
            s.MarkerSize = 7;
            s.Color = palette.GetColor(k);
            s.LegendText = $"{series[k].Split} ({EnumText<Iterate>.Of(series[k].Iterate)})";
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            settings.Select((setting, i) => new Tick(i, setting)).ToArray());
        plot.Axes.Bottom.TickLabelStyle.Rotation = 45;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleLeft;
        plot.Axes.Bottom.MinimumSize = 150;
        plot.ShowLegend(Edge.Right);
        plot.Title($"{name}: read errors of each run (boxes: quartiles and range)");
        plot.YLabel("log10(errors + 1)");
        return Save(plot, name + "-errors", Math.Max(800, 70 * settings.Count + 250), 600);
    }

    /// <summary>
    /// Training diagnostics against the step, averaged over the replicates of each setting: the mean attention-row
    /// entropy of each layer (a line per setting and layer while there are few, else per setting over its layers) and
    /// the Frobenius norm of all weight matrices together (the paper's Figure 12 tracks weight norms).
    /// </summary>
    static List<(string Name, Action<string> Write)> Diagnostics(ResultsStore store, IReadOnlyList<RunRecord> runs, string name)
    {
        var bySetting = runs.GroupBy(r => r.Setting).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => (Setting: g.Key, Runs: g.Select(r => store.Diagnostics(r.Id)).Where(d => d.Count > 0).ToList()))
            .Where(x => x.Runs.Count > 0).ToList();
        if (bySetting.Count == 0) return [];
        var palette = new ScottPlot.Palettes.Category10();
        var entropy = new Plot();
        var norms = new Plot();
        int layers = bySetting.Max(x => x.Runs.Max(d => d[0].AttentionEntropy.Count));
        bool perLayer = bySetting.Count * layers <= 12;
        int k = 0;
        foreach (var (setting, diagnostics) in bySetting)
        {
            // steps shared by every replicate of the setting
            var steps = diagnostics.Select(d => d.Select(x => x.Step).ToHashSet()).Aggregate((a, b) => { a.IntersectWith(b); return a; }).Order().ToArray();
            TrainingDiagnostics At(IReadOnlyList<TrainingDiagnostics> d, int step) => d.First(x => x.Step == step);
            double[] xs = steps.Select(s => (double)s).ToArray();
            if (layers > 0)
            {
                var series = perLayer ? Enumerable.Range(0, layers).Select(l => ($"{setting} layer {l}", (Func<TrainingDiagnostics, double>)(x => l < x.AttentionEntropy.Count ? x.AttentionEntropy[l] : double.NaN)))
                    : [(setting, x => x.AttentionEntropy.Count == 0 ? double.NaN : x.AttentionEntropy.Average())];
                foreach (var (label, value) in series)
                {
                    var line = entropy.Add.Scatter(xs, steps.Select(s => diagnostics.Average(d => value(At(d, s)))).ToArray());
                    line.Color = palette.GetColor(k++);
                    line.LegendText = label;
                }
            }
            var total = norms.Add.Scatter(xs, steps.Select(s => diagnostics.Average(d => Math.Sqrt(At(d, s).WeightNorms.Values.Sum(v => v * v)))).ToArray());
            total.Color = palette.GetColor(k++);
            total.LegendText = setting;
        }
        entropy.Title($"{name}: mean attention-row entropy on the online set");
        entropy.XLabel("step");
        entropy.YLabel("entropy (nats)");
        entropy.ShowLegend(Edge.Right);
        norms.Title($"{name}: Frobenius norm of the weight matrices");
        norms.XLabel("step");
        norms.YLabel("norm");
        norms.ShowLegend(Edge.Right);
        return [.. Save(entropy, name + "-attention-entropy"), .. Save(norms, name + "-weight-norms")];
    }

    /// <summary>
    /// Error rate against dependency length (log-log), one line per setting: the errors and reads of every replicate
    /// summed per dependency bucket (buckets with reads only); none when no evaluation kept buckets.
    /// </summary>
    static List<(string Name, Action<string> Write)> DependencyCurves(List<(RunRecord Run, EvaluationRecord Eval)> evals, string name, string title)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int k = 0;
        foreach (var setting in evals.GroupBy(x => x.Run.Setting).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var buckets = setting.SelectMany(x => x.Eval.ByDependency).GroupBy(b => (b.Min, b.Max)).OrderBy(g => g.Key.Min)
                .Select(g => (Min: g.Key.Min, Max: g.Key.Max, Reads: g.Sum(b => b.Reads), Errors: g.Sum(b => b.Errors))).Where(b => b.Reads > 0).ToList();
            if (buckets.Count == 0) continue;
            // x: the bucket's geometric middle; y: log10 of the error rate, with errors + 0.5 so zero-error buckets show at the floor
            double[] xs = buckets.Select(b => Math.Log10(Math.Sqrt(Math.Max(1, b.Min) * (double)Math.Max(1, b.Max)))).ToArray();
            double[] ys = buckets.Select(b => Math.Log10((b.Errors + 0.5) / b.Reads)).ToArray();
            var line = plot.Add.Scatter(xs, ys);
            line.Color = palette.GetColor(k++);
            line.LegendText = setting.Key;
        }
        if (k == 0) return [];
        plot.Title(title);
        plot.XLabel("log10 dependency length (tokens back to the write)");
        plot.YLabel("log10 (errors + 0.5) / reads");
        plot.ShowLegend(Edge.Right);
        return [.. Save(plot, name)];
    }

    /// <summary>
    /// The maps of an automaton run's attention.safetensors: `paper_input` (L,H,8,8) as a grid of every layer and head
    /// with the model's wrong states marked (Figures 10, 13, 16, 17), and the drift maps (n,n) every 32nd query row
    /// (Figure 11).
    /// </summary>
    static IEnumerable<(string Name, Action<string> Write)> Heatmaps(string path, string prefix)
    {
        var files = new List<(string, Action<string>)>();
        var contents = SafeTensors.Read(path);
        foreach (var tensor in contents.Tensors.Where(t => t.Name != "paper_predictions"))
        {
            if (tensor.Type != SafeTensorType.F32 || tensor.Shape.Length is not (2 or 4) || tensor.Shape[^1] != tensor.Shape[^2])
                throw new SafeTensorsException(path, $"tensor {tensor.Name} {tensor.ShapeText} is not an F32 attention map (T,T) or grid (L,H,T,T)");
            if (tensor.Shape.Length == 4)
            {
                files.AddRange(AttentionGrid.Figures(PaperGrid(path, contents, tensor), $"{prefix}-{tensor.Name}", prefix, 240));
                continue;
            }
            int n = tensor.Shape[0], stride = tensor.Name.StartsWith("drift", StringComparison.Ordinal) ? 32 : 1;
            var values = tensor.ToDoubles();
            int m = (n + stride - 1) / stride;
            var grid = new double[m, n];
            // ScottPlot draws grid row r at y = rows - 1 - r: fill reversed so query row i sits at y = i
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++) grid[m - 1 - i, j] = values[(long)i * stride * n + j];
            var plot = new Plot();
            var heatmap = plot.Add.Heatmap(grid);
            heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
            plot.Add.ColorBar(heatmap);
            plot.Title($"{prefix}: {tensor.Name} (query rows{(stride > 1 ? $" every {stride}" : "")} x keys)");
            plot.XLabel("key position");
            plot.YLabel(stride > 1 ? $"query position / {stride}" : "query position");
            files.AddRange(Save(plot, $"{prefix}-{tensor.Name}", 800, stride > 1 ? 450 : 700));
        }
        return files;
    }

    /// <summary>The saved grid on the paper's input as an inspection: its maps, and the wrong states from the saved predictions.</summary>
    static AttentionInspection PaperGrid(string path, SafeTensors.Contents contents, SafeTensor tensor)
    {
        int layers = tensor.Shape[0], heads = tensor.Shape[1], t = tensor.Shape[2];
        if (t != AttentionMaps.PaperInput.Length)
            throw new SafeTensorsException(path, $"tensor {tensor.Name} {tensor.ShapeText}: the paper's input has {AttentionMaps.PaperInput.Length} positions");
        var values = tensor.ToDoubles();
        var maps = Enumerable.Range(0, layers).Select(l => Enumerable.Range(0, heads)
            .Select(h => values.Skip((l * heads + h) * t * t).Take(t * t).Select(v => (float)v).ToArray()).ToArray()).ToArray();
        var predictions = contents.Find("paper_predictions") is { Type: SafeTensorType.I32 } p && p.Count == t
            ? p.ToDoubles().Select(v => (int)v).ToArray() : new int[t];
        var states = new byte[t];
        Automaton.Run(AttentionMaps.PaperInput, states);
        bool known = contents.Find("paper_predictions") != null;
        return new AttentionInspection(AttentionMaps.PaperInput, true, Enumerable.Range(0, layers).ToList(), Enumerable.Range(0, heads).ToList(),
            maps, [], predictions, predictions.Select((x, i) => known && x != states[i]).ToArray());
    }
}
