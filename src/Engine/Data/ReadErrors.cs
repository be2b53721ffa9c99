namespace RawFlipFlop.Engine.Data;

/// <summary>
/// The read-error metric. A read position is an instruction position t with token r; the model's prediction
/// there (argmax of its next-token distribution) must equal the bit at t + 1. Any other prediction, a
/// non-bit token included, is an error. Counts reads, errors and sequences with at least one error, and
/// keeps both per dependency length (tokens from the read back to its write), so errors can be broken down.
/// </summary>
public sealed class ReadErrorCounter(string split)
{
    readonly SortedDictionary<int, (long Reads, long Errors)> _byDependency = [];
    readonly List<(long Sequence, int Position)> _firstErrors = [];
    readonly List<Glitch> _glitches = [];

    public string Split { get; } = split;
    public long Sequences { get; private set; }
    public long Reads { get; private set; }
    public long Errors { get; private set; }
    public long SequencesWithErrors { get; private set; }
    /// <summary>The first 1000 errors as (sequence index, position of the read instruction).</summary>
    public IReadOnlyList<(long Sequence, int Position)> FirstErrors => _firstErrors;
    /// <summary>(reads, errors) per dependency length in tokens.</summary>
    public IReadOnlyDictionary<int, (long Reads, long Errors)> ByDependency => _byDependency;
    /// <summary>The first <see cref="Glitch.MaxRecords"/> errors with the model's probabilities (when logits were given).</summary>
    public IReadOnlyList<Glitch> Glitches => _glitches;
    public IReadOnlyList<DependencyBucket> Buckets => DependencyBucket.Of(_byDependency);

    /// <summary>
    /// Scores a batch: tokens (B, T) and predictions (B, T), where predictions[b, t] is the argmax token
    /// predicted for position t + 1 (only read positions are looked at). Sequence numbers start at firstSequence.
    /// </summary>
    public void Add(ReadOnlySpan<byte> tokens, ReadOnlySpan<int> predictions, int length, long firstSequence = -1)
    {
        if (tokens.Length % length != 0 || predictions.Length != tokens.Length)
            throw new ArgumentException($"tokens ({tokens.Length}) and predictions ({predictions.Length}) must both be (B, {length})");
        Score(tokens, predictions, length, firstSequence, errorFlags: false);
    }

    /// <summary>
    /// Scores a batch from per-position error flags (B, T) (1 where the read at t was predicted wrongly, as the
    /// on-device read-error op writes them), or from an empty span when the batch has no error at all. With the
    /// batch's logits (B, T, V), the errors are also recorded as <see cref="Glitches"/> with the model's probabilities.
    /// </summary>
    public void AddErrorFlags(ReadOnlySpan<byte> tokens, ReadOnlySpan<int> errors, int length, long firstSequence = -1,
        ReadOnlySpan<float> logits = default, int vocab = 0)
    {
        if (tokens.Length % length != 0 || (errors.Length != 0 && errors.Length != tokens.Length))
            throw new ArgumentException($"tokens ({tokens.Length}) and error flags ({errors.Length}) must both be (B, {length})");
        if (!logits.IsEmpty && logits.Length != (long)tokens.Length * vocab)
            throw new ArgumentException($"logits ({logits.Length}) must be (B, {length}, {vocab})");
        Score(tokens, errors, length, firstSequence, errorFlags: true, logits, vocab);
    }

    void Score(ReadOnlySpan<byte> tokens, ReadOnlySpan<int> values, int length, long firstSequence, bool errorFlags,
        ReadOnlySpan<float> logits = default, int vocab = 0)
    {
        int batch = tokens.Length / length;
        if (firstSequence < 0) firstSequence = Sequences;
        for (int b = 0; b < batch; b++)
        {
            var seq = tokens.Slice(b * length, length);
            var vals = values.IsEmpty ? values : values.Slice(b * length, length);
            int lastWrite = 0;
            bool anyError = false;
            for (int t = 0; t + 1 < length; t += 2)
            {
                if (seq[t] == Tokens.Write) lastWrite = t;
                if (seq[t] != Tokens.Read) continue;
                bool error = errorFlags ? !vals.IsEmpty && vals[t] != 0 : vals[t] != seq[t + 1];
                Reads++;
                int dependency = t - lastWrite;
                _byDependency.TryGetValue(dependency, out var cell);
                _byDependency[dependency] = (cell.Reads + 1, cell.Errors + (error ? 1 : 0));
                if (!error) continue;
                Errors++;
                anyError = true;
                if (_firstErrors.Count < 1000) _firstErrors.Add((firstSequence + b, t));
                if (!logits.IsEmpty && _glitches.Count < Glitch.MaxRecords)
                    _glitches.Add(Glitch.Of(firstSequence + b, t, dependency, logits.Slice((b * length + t) * vocab, vocab), seq[t + 1]));
            }
            if (anyError) SequencesWithErrors++;
            Sequences++;
        }
    }

    public ReadErrorReport Report(long step = -1) => new(Split, Sequences, Reads, Errors, SequencesWithErrors, step);
}

/// <summary>The summary of one evaluation: split name, sequences, reads, errors, sequences with an error, step.</summary>
public sealed record ReadErrorReport(string Split, long Sequences, long Reads, long Errors, long SequencesWithErrors, long Step)
{
    public double ErrorRate => Reads == 0 ? 0 : (double)Errors / Reads;
}
