using System.Numerics;
using RawFlipFlop.Engine.Data;

namespace RawFlipFlop.Engine.Training;

/// <summary>The final offline evaluation of a run: the final and the best-so-far iterates on each offline split.</summary>
public static class OfflineEvaluation
{
    /// <summary>
    /// Evaluates the final weights and, when online evaluation found a best-so-far iterate, those too (the same
    /// record is reused when the best is the final step). Leaves the final weights in the model.
    /// progress(label, done, total) reports each pass.
    /// </summary>
    public static IReadOnlyList<EvaluationRecord> Run<T>(TrainingRun<T> run, Action<string, int, int>? progress = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var options = run.Options;
        var model = run.Model;
        var device = model.Ops.Device;
        var records = new List<EvaluationRecord>();
        var finalParameters = Kernels.Devices.DeviceExtensions.ToArray(device, model.Parameters);
        var iterates = new List<(string Name, T[] Parameters, long Step)> { ("final", finalParameters, run.Step) };
        if (run.Best is { } best && run.BestParameters != null) iterates.Add(("best", run.BestParameters, best.Step));
        if (options.Task == TrainingTask.Automaton)
        {
            var sampler = new AutomatonSampler(options.AutomatonPWrite);
            var lengths = new List<(string Split, int Length)> { ("automaton", options.Length) };
            if (options.Model.MaxSequenceLength == int.MaxValue)
                lengths.Add(($"automaton-{Experiments.ExperimentCatalog.DriftLength(options.Length)}", Experiments.ExperimentCatalog.DriftLength(options.Length)));
            foreach (var (split, length) in lengths)
            {
                var data = sampler.SampleMany(TrainingRun<T>.AutomatonOnlineSeed + 1, 0, Math.Max(1, options.EvalCount), length);
                foreach (var (name, parameters, step) in iterates)
                {
                    device.Upload<T>(parameters, model.Parameters);
                    var (positions, errors, sequences) = TrainingRun<T>.AutomatonErrors(model, data, options.Batch);
                    records.Add(new EvaluationRecord(split, name, data.Count, positions, errors, sequences, step));
                }
            }
        }
        else
        {
            using var evaluator = new Evaluator<T>(model, options.EvalBatch ?? Evaluator<T>.DefaultBatch(options.Model), options.Length);
            foreach (var (split, count) in options.Offline)
            {
                var data = EvaluationSets.ByName(split).Generate(count, options.Length);
                foreach (var (name, parameters, step) in iterates)
                {
                    if (name == "best" && step == run.Step)
                    {
                        // the best-so-far iterate is the final one: same weights, same evaluation
                        records.Add(records[^1] with { Iterate = "best" });
                        continue;
                    }
                    device.Upload<T>(parameters, model.Parameters);
                    var counter = evaluator.Evaluate(split, data, step, (done, total) => progress?.Invoke($"eval {name} on {split}", done, total));
                    records.Add(EvaluationRecord.From(counter, name, step));
                }
            }
        }
        device.Upload<T>(finalParameters, model.Parameters);
        return records;
    }
}
