namespace RawFlipFlop.Engine.Data;

/// <summary>Tells flip-flop files from automaton files: automaton text lines hold a tab, automaton Parquet
/// files have the columns input and state and no text column.</summary>
public static class DataFileKinds
{
    /// <summary>Opens the file just to tell its kind. A reader of the records (a pipe can be read only once)
    /// takes <see cref="DataInput.Kind"/> from the input it reads instead.</summary>
    public static bool IsAutomaton(string path)
    {
        using var input = DataInput.Open(path);
        return input.Kind == DataFileKind.Automaton;
    }
}
