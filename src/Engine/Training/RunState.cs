using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training;

/// <summary>
/// The resumable state of a training run, one safetensors file written atomically at every online evaluation:
/// parameters, AdamW moments and best-so-far parameters (F32, exact) and, in the metadata, the options with their
/// hash and the step, loss and online curves and training time. Batches and dropout masks are functions of the step,
/// so a run resumed from here continues bit-identically.
/// </summary>
public static class RunState
{
    const string OptionsKey = "options", OptionsHashKey = "options_hash", ProgressKey = "run_state";

    sealed record Progress(int Step, List<double> Losses, List<double> Regularizer, List<OnlineEvaluation> Online, List<TrainingDiagnostics>? Diagnostics,
        OnlineEvaluation? Best, double TrainSeconds);

    public static void Save(string path, TrainingRun<float> run)
    {
        var device = run.Model.Ops.Device;
        int p = checked((int)run.Model.Layout.Count);
        var tensors = new List<SafeTensor>
        {
            SafeTensor.FromFloats("parameters", [p], device.ToArray(run.Model.Parameters)),
            SafeTensor.FromFloats("adam_m", [p], device.ToArray(run.Optimizer.M)),
            SafeTensor.FromFloats("adam_v", [p], device.ToArray(run.Optimizer.V)),
        };
        if (run.BestParameters != null) tensors.Add(SafeTensor.FromFloats("best_parameters", [p], run.BestParameters));
        var progress = new Progress(run.Step, run.Losses, run.Regularizer, run.Online, run.Diagnostics, run.Best, run.TrainTime.TotalSeconds);
        SafeTensors.Write(path, tensors, Checkpoint.Metadata(run.Options.Model, new Dictionary<string, string>
        {
            [OptionsKey] = OptionsSchema.Canonical(run.Options),
            [OptionsHashKey] = OptionsSchema.Hash(run.Options),
            [ProgressKey] = Json.Serialize(progress),
        }));
    }

    /// <summary>
    /// Restores the state at <paramref name="path"/> into a fresh run; false when there is none. A state saved for other
    /// options is refused with the differing fields.
    /// </summary>
    public static bool TryRestore(string path, TrainingRun<float> run)
    {
        if (!File.Exists(path)) return false;
        var contents = SafeTensors.Read(path);
        if (!contents.Metadata.TryGetValue(OptionsHashKey, out var hash) || !contents.Metadata.TryGetValue(OptionsKey, out var options))
            throw new OptionsMismatchException(path, ["the state names no options (written by an older version)"]);
        Progress progress;
        try
        {
            if (hash != OptionsSchema.Hash(run.Options))
                throw new OptionsMismatchException(path, OptionsSchema.Differences(JsonNode.Parse(options), OptionsSchema.ToJson(run.Options)));
            progress = JsonSerializer.Deserialize<Progress>(contents.Metadata.GetValueOrDefault(ProgressKey) ?? "null", Json.Options)
                       ?? throw new SafeTensorsException(path, $"no {ProgressKey} metadata");
        }
        catch (JsonException e) { throw new SafeTensorsException(path, $"damaged run state metadata ({e.Message}); delete the file to start the run over"); }
        if (progress.Step < 0 || progress.Step > run.Options.Steps || progress.Losses.Count < progress.Step)
            throw new SafeTensorsException(path, $"run state at step {progress.Step} does not fit a run of {run.Options.Steps} steps; delete the file to start over");
        var device = run.Model.Ops.Device;
        float[] Tensor(string name)
        {
            var t = contents.Find(name) ?? throw new SafeTensorsException(path, $"missing tensor {name}");
            if (t.Type != SafeTensorType.F32 || t.Count != run.Model.Layout.Count) throw new SafeTensorsException(path, $"tensor {name} does not fit the model");
            return MemoryMarshal.Cast<byte, float>(t.Data).ToArray();
        }
        device.Upload<float>(Tensor("parameters"), run.Model.Parameters);
        device.Upload<float>(Tensor("adam_m"), run.Optimizer.M);
        device.Upload<float>(Tensor("adam_v"), run.Optimizer.V);
        var best = contents.Find("best_parameters") != null ? Tensor("best_parameters") : null;
        run.Restore(progress.Step, progress.Losses, progress.Regularizer, progress.Online, progress.Diagnostics ?? [], progress.Best, best,
            TimeSpan.FromSeconds(progress.TrainSeconds));
        return true;
    }
}
