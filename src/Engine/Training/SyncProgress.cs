namespace RawFlipFlop.Engine.Training;

/// <summary>
/// An <see cref="IProgress{T}"/> that handles each report at once on the reporting thread (unlike
/// <see cref="Progress{T}"/>, which posts): results stores and checkpoints must be written before the job goes on.
/// </summary>
public sealed class SyncProgress<T>(Action<T> handle) : IProgress<T>
{
    public void Report(T value) => handle(value);
}
