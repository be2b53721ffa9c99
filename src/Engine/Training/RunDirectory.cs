using System.Globalization;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training.Tasks;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training;

/// <summary>
/// The directory of one run, claimed by one process at a time (<see cref="DirectoryLock"/>): state.safetensors while it
/// trains (for resuming), then model.safetensors, best.safetensors, summary.json and the task's artifacts, published
/// together as one set (<see cref="FileSet"/>): after a kill at any moment the directory holds the previous complete
/// set or the new one. Opening it removes what an interrupted run left behind.
/// </summary>
public sealed class RunDirectory : IDisposable
{
    public const string StateFile = "state.safetensors";
    public const string ModelFile = "model.safetensors";
    public const string BestFile = "best.safetensors";
    public const string SummaryFile = "summary.json";

    /// <summary>Every name a run may publish; names the new set lacks disappear with it.</summary>
    public static readonly IReadOnlyList<string> PublishedNames = [ModelFile, BestFile, SummaryFile, AttentionMaps.FileName];

    readonly DirectoryLock _lock;

    RunDirectory(string path, DirectoryLock directoryLock)
    {
        Path = path;
        _lock = directoryLock;
        FileSet.RemoveLeftovers(path);
    }

    /// <summary>Claims the directory (created if needed); throws <see cref="RunDirectoryBusyException"/> when another process has it.</summary>
    public static RunDirectory Open(string path) =>
        TryOpen(path, out string holder) ?? throw new RunDirectoryBusyException(path, holder);

    /// <summary>Claims the directory, or returns null (with the holder) when another process is running in it.</summary>
    public static RunDirectory? TryOpen(string path, out string holder)
    {
        Directory.CreateDirectory(path);
        var claim = DirectoryLock.TryAcquire(path, out holder);
        return claim == null ? null : new RunDirectory(path, claim);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Restores a saved state into the fresh run; false when there is none (refuses a state of other options).</summary>
    public bool TryRestore(TrainingRun<float> run) => RunState.TryRestore(File(StateFile), run);

    public void SaveState(TrainingRun<float> run) => RunState.Save(File(StateFile), run);

    /// <summary>The state is dropped once the results are published: it holds nothing they do not, and it is large.</summary>
    public void DeleteState() => System.IO.File.Delete(File(StateFile));

    /// <summary>
    /// Publishes the results of a run as one set: the final checkpoint (not for a diverged run), the best-so-far
    /// checkpoint, the task's artifacts and the summary.
    /// </summary>
    public void Publish(TrainingRun<float> run, TrainingSummary summary, IReadOnlyList<TaskArtifact> artifacts)
    {
        var model = run.Model;
        var files = new List<(string, Action<string>)>();
        if (run.DivergedAt == null)
        {
            var parameters = model.Ops.Device.ToArray(model.Parameters);
            files.Add((ModelFile, path => SafeTensors.Write(path, Checkpoint.Tensors<float>(model.Layout, parameters),
                Checkpoint.Metadata(run.Options.Model, RunMetadata(run, run.Step)))));
        }
        if (run.BestParameters is { } best)
            files.Add((BestFile, path => SafeTensors.Write(path, Checkpoint.Tensors<float>(model.Layout, best),
                Checkpoint.Metadata(run.Options.Model, RunMetadata(run, run.Best!.Step)))));
        files.AddRange(artifacts.Select(a => (a.FileName, a.Write)));
        files.Add((SummaryFile, path => AtomicFile.WriteAllText(path, Json.Serialize(summary))));
        FileSet.Publish(Path, files, PublishedNames);
    }

    /// <summary>
    /// A checkpoint names its step and the hash of the run's options, so it can be traced to its summary, and the
    /// matmul precision it was trained in.
    /// </summary>
    static Dictionary<string, string> RunMetadata(TrainingRun<float> run, int step) => new()
    {
        ["step"] = step.ToString(CultureInfo.InvariantCulture),
        ["options_hash"] = OptionsSchema.Hash(run.Options),
        ["matmul_precision"] = EnumText<MatmulPrecision>.Of(run.Options.MatmulPrecision),
    };

    public void Dispose() => _lock.Dispose();
}

/// <summary>Another process is training in the run directory.</summary>
public sealed class RunDirectoryBusyException(string path, string holder)
    : IOException($"{path}: {holder} is training in this directory; wait for it or choose another directory");
