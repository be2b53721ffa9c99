using System.Numerics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training;

/// <summary>The final offline evaluation of a run: the final and the best-so-far iterates on each of the task's offline splits.</summary>
public static class OfflineEvaluation
{
    /// <summary>
    /// Evaluates the final weights (unless the run diverged: they are not a result) and, when online evaluation found a
    /// best-so-far iterate, those too (when the best is the final step its record is the final one's). Leaves the final
    /// weights in the model.
    /// progress(split, iterate, done, total) reports each pass in sequences.
    /// </summary>
    public static IReadOnlyList<EvaluationRecord> Run<T>(TrainingRun<T> run, Action<string, Iterate, int, int>? progress = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var model = run.Model;
        var device = model.Ops.Device;
        var records = new List<EvaluationRecord>();
        var finalParameters = device.ToArray(model.Parameters);
        var iterates = new List<(Iterate Iterate, T[] Parameters, long Step)>();
        if (run.DivergedAt == null) iterates.Add((Iterate.Final, finalParameters, run.Step));
        if (run.Best is { } best && run.BestParameters != null) iterates.Add((Iterate.Best, run.BestParameters, best.Step));
        foreach (var split in run.Task.Offline)
        {
            foreach (var (iterate, parameters, step) in iterates)
            {
                if (iterate == Iterate.Best && step == run.Step && iterates[0].Iterate == Iterate.Final)
                {
                    records.Add(records[^1] with { Iterate = Iterate.Best });
                    continue;
                }
                device.Upload<T>(parameters, model.Parameters);
                var r = split.Evaluate(model, (done, total) => progress?.Invoke(split.Name, iterate, done, total));
                records.Add(new EvaluationRecord(r.Split, iterate, r.Sequences, r.Positions, r.Errors, r.SequencesWithErrors, step)
                {
                    ByDependency = r.Buckets, Glitches = r.Glitches,
                });
            }
        }
        device.Upload<T>(finalParameters, model.Parameters);
        return records;
    }
}
