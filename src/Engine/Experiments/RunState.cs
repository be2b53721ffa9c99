using System.Globalization;
using System.Runtime.InteropServices;
using System.Text.Json;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Experiments;

/// <summary>
/// The resumable state of a training run, written atomically (temp file + rename) at every online evaluation:
/// parameters, AdamW moments, best-so-far parameters (F32 tensors, exact) and, in the metadata, the step, the
/// loss and online curves and the training time. Batches and dropout masks are functions of the step, so a run
/// resumed from here continues bit-identically.
/// </summary>
public static class RunState
{
    public const string FileName = "state.safetensors";

    sealed record Meta(int Step, List<double> Losses, List<double> Regularizer, List<OnlineEvaluation> Online, OnlineEvaluation? Best, double TrainSeconds);

    public static void Save(string dir, TrainingRun<float> run)
    {
        var device = run.Model.Ops.Device;
        long p = run.Model.Layout.Count;
        var tensors = new List<SafeTensor>
        {
            SafeTensor.FromFloats("parameters", [(int)p], device.ToArray(run.Model.Parameters)),
            SafeTensor.FromFloats("adam_m", [(int)p], device.ToArray(run.Optimizer.M)),
            SafeTensor.FromFloats("adam_v", [(int)p], device.ToArray(run.Optimizer.V)),
        };
        if (run.BestParameters != null) tensors.Add(SafeTensor.FromFloats("best_parameters", [(int)p], run.BestParameters));
        var meta = new Meta(run.Step, run.Losses, run.Regularizer, run.Online, run.Best, run.TrainTime.TotalSeconds);
        Directory.CreateDirectory(dir);
        SafeTensors.Write(Path.Combine(dir, FileName), tensors, Checkpoint.Metadata(run.Options.Model, new Dictionary<string, string>
        {
            ["run_state"] = Json.Serialize(meta),
        }));
    }

    /// <summary>Restores a saved state into a fresh run of the same options; false when there is none.</summary>
    public static bool TryRestore(string dir, TrainingRun<float> run)
    {
        string path = Path.Combine(dir, FileName);
        if (!File.Exists(path)) return false;
        var contents = SafeTensors.Read(path);
        var config = Checkpoint.ReadConfig(path, contents);
        if (config != run.Options.Model) throw new SafeTensorsException(path, $"saved for {config}, the run is {run.Options.Model}");
        var meta = JsonSerializer.Deserialize<Meta>(contents.Metadata["run_state"], Json.Options)
                   ?? throw new SafeTensorsException(path, "run_state metadata is empty");
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
        run.Restore(meta.Step, meta.Losses, meta.Regularizer, meta.Online, meta.Best, best, TimeSpan.FromSeconds(meta.TrainSeconds));
        return true;
    }

    public static string Describe(int step) => step.ToString(CultureInfo.InvariantCulture);
}
