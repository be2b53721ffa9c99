namespace RawFlipFlop.Engine.Training;

/// <summary>
/// An option value out of range. <see cref="Field"/> is its JSON name (e.g. "learning_rate"), so the command line can
/// name its own spelling of the option and a stored run its field.
/// </summary>
public sealed class InvalidOptionException(string field, string problem) : ArgumentException($"{field}: {problem}")
{
    public string Field { get; } = field;
    public string Problem { get; } = problem;

    public static void Require(bool condition, string field, string problem)
    {
        if (!condition) throw new InvalidOptionException(field, problem);
    }
}
