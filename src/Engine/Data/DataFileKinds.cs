namespace RawFlipFlop.Engine.Data;

/// <summary>Tells flip-flop files from automaton files: automaton text lines hold a tab, automaton Parquet
/// files have the columns input and state and no text column.</summary>
public static class DataFileKinds
{
    public static bool IsAutomaton(string path)
    {
        if (RecordFiles.FormatOf(path) == DataFileFormat.Parquet)
        {
            try
            {
                using var stream = File.OpenRead(path);
                var schema = Parquet.ParquetReader.ReadSchemaAsync(stream).GetAwaiter().GetResult();
                var names = schema.GetDataFields().Select(f => f.Name).ToHashSet();
                return !names.Contains(FlipFlopFiles.TextColumn) && names.Contains("input") && names.Contains("state");
            }
            catch (Exception e) when (e is IOException or InvalidDataException or Parquet.ParquetException)
            {
                return false; // not readable: the flip-flop reader reports why
            }
        }
        using var reader = new StreamReader(path);
        return reader.ReadLine()?.Contains('\t') ?? false;
    }
}
