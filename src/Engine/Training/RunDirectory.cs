using System.Globalization;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training.Tasks;

namespace RawFlipFlop.Engine.Training;

/// <summary>
/// The files of one run: state.safetensors while it trains (for resuming), then model.safetensors,
/// best.safetensors, summary.json and the task's artifacts when it is done.
/// </summary>
public sealed class RunDirectory(string path)
{
    public const string StateFile = "state.safetensors";
    public const string ModelFile = "model.safetensors";
    public const string BestFile = "best.safetensors";
    public const string SummaryFile = "summary.json";

    public string Path { get; } = path;

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Restores a saved state into the fresh run; false when there is none (refuses a state of other options).</summary>
    public bool TryRestore(TrainingRun<float> run) => RunState.TryRestore(File(StateFile), run);

    public void SaveState(TrainingRun<float> run)
    {
        Directory.CreateDirectory(Path);
        RunState.Save(File(StateFile), run);
    }

    /// <summary>The state is dropped once the results are written: it holds nothing they do not, and it is large.</summary>
    public void DeleteState() => System.IO.File.Delete(File(StateFile));

    /// <summary>
    /// Writes the results of a run: the final checkpoint (not for a diverged run), the best-so-far checkpoint, the
    /// task's artifacts and the summary.
    /// </summary>
    public void Publish(TrainingRun<float> run, TrainingSummary summary, IReadOnlyList<TaskArtifact> artifacts)
    {
        Directory.CreateDirectory(Path);
        var model = run.Model;
        if (run.DivergedAt == null) Checkpoint.Save(model, File(ModelFile), StepMetadata(run.Step));
        if (run.BestParameters != null)
            SafeTensors.Write(File(BestFile), Checkpoint.Tensors<float>(model.Layout, run.BestParameters),
                Checkpoint.Metadata(run.Options.Model, StepMetadata(run.Best!.Step)));
        foreach (var artifact in artifacts) artifact.Write(File(artifact.FileName));
        AtomicFile.WriteAllText(File(SummaryFile), Json.Serialize(summary));
    }

    static Dictionary<string, string> StepMetadata(int step) => new() { ["step"] = step.ToString(CultureInfo.InvariantCulture) };
}
