using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Engine.Training.Tasks;

namespace RawFlipFlop.Engine.Analysis;

/// <summary>
/// Read errors of one evaluation set at one attention temperature, with the mean attention-row entropy of every layer
/// (nats) on the same forward passes.
/// </summary>
public sealed record TemperaturePoint(float Temperature, string Split, long Sequences, long Reads, long Errors, long SequencesWithErrors,
    IReadOnlyList<double> AttentionEntropy)
{
    public double ErrorRate => Reads == 0 ? 0 : (double)Errors / Reads;
}

/// <summary>
/// The paper's attention-dilution argument (Proposition 3) as an experiment: evaluate a trained Transformer with its
/// attention logits divided by T (chosen layers, the others as trained) for several T. Towards T = 0 attention turns
/// hard, removing the dilution of a read's weight over many keys; T above 1 dilutes it further.
/// </summary>
public static class TemperatureProbe
{
    /// <summary>
    /// One point per temperature and set, in the order given. <paramref name="progress"/> gets (points done, points).
    /// </summary>
    public static List<TemperaturePoint> Run(TransformerModel<float> model, IReadOnlyList<(string Name, FlipFlopDataset Data)> sets,
        IReadOnlyList<float> temperatures, IReadOnlyList<int>? layers, int batch, Action<int, int>? progress = null, CancellationToken cancel = default)
    {
        if (temperatures.Count == 0) throw new ArgumentException("no temperatures");
        if (layers is not null && layers.Any(l => l < 0 || l >= model.Config.Layers))
            throw new ArgumentOutOfRangeException(nameof(layers), $"layers must be in 0..{model.Config.Layers - 1}");
        var points = new List<TemperaturePoint>();
        int total = temperatures.Count * sets.Count;
        foreach (float temperature in temperatures)
        {
            var pass = PassOptions.AtTemperature(temperature, layers);
            foreach (var (name, data) in sets)
            {
                cancel.ThrowIfCancellationRequested();
                using var evaluator = new Evaluator<float>(model, batch, data.Length, pass);
                var entropy = new AttentionEntropyMeter();
                var report = evaluator.Evaluate(name, data, afterForward: () => entropy.Add(model)).Report();
                points.Add(new TemperaturePoint(temperature, name, report.Sequences, report.Reads, report.Errors, report.SequencesWithErrors, entropy.Means));
                progress?.Invoke(points.Count, total);
            }
        }
        return points;
    }
}
