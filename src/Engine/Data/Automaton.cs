using RawFlipFlop.Kernels.Random;

namespace RawFlipFlop.Engine.Data;

/// <summary>
/// The flip-flop automaton of the paper's Definition 1: states {0, 1}, inputs sigma0 (write 0), sigma1
/// (write 1) and bottom (keep the state). The task is non-autoregressive: output the state after each input.
/// Input ids: bottom = 0, sigma0 = 1, sigma1 = 2 (the paper's Figure 11 encoding); text characters '-', '0', '1'.
/// The state before the first input is 0.
/// </summary>
public static class Automaton
{
    public const byte Bottom = 0, Sigma0 = 1, Sigma1 = 2;
    public const int InputVocabulary = 3;

    public static ReadOnlySpan<byte> InputCharacters => "-01"u8;

    public static int InputFromChar(char c) => c switch { '-' => Bottom, '0' => Sigma0, '1' => Sigma1, _ => -1 };

    /// <summary>The state sequence the automaton passes through on <paramref name="inputs"/>.</summary>
    public static void Run(ReadOnlySpan<byte> inputs, Span<byte> states, byte initial = 0)
    {
        byte q = initial;
        for (int t = 0; t < inputs.Length; t++)
        {
            q = inputs[t] switch { Sigma0 => 0, Sigma1 => 1, _ => q };
            states[t] = q;
        }
    }
}

/// <summary>Automaton sequences: inputs (Count, Length) in {0,1,2} and states (Count, Length) in {0,1}.</summary>
public sealed class AutomatonDataset(byte[] inputs, byte[] states, int count, int length)
{
    public int Count { get; } = count;
    public int Length { get; } = length;
    public byte[] Inputs { get; } = inputs;
    public byte[] States { get; } = states;

    public Span<byte> InputSequence(int index) => Inputs.AsSpan(index * Length, Length);
    public Span<byte> StateSequence(int index) => States.AsSpan(index * Length, Length);

    public string InputText(int index) => new(InputSequence(index).ToArray().Select(t => (char)Automaton.InputCharacters[t]).ToArray());
    public string StateText(int index) => new(StateSequence(index).ToArray().Select(q => (char)('0' + q)).ToArray());
}

/// <summary>
/// Samples automaton sequences: sequence k of (seed) uses the Automaton-domain word stream of 2T words;
/// input t is a write when word 2t &lt; floor(p_write 2^32), of sigma1 when word 2t+1 is odd; bottom otherwise.
/// </summary>
public sealed class AutomatonSampler(double pWrite)
{
    public double PWrite { get; } = pWrite is >= 0 and <= 1 ? pWrite : throw new ArgumentException($"p_write must lie in [0, 1], got {pWrite}");

    public void Sample(ulong seed, long index, Span<byte> inputs, Span<byte> states)
    {
        var words = new uint[2 * inputs.Length];
        Philox.Fill(seed, (ulong)index, RandomDomain.Automaton, words);
        ulong writeBelow = Philox.Threshold(PWrite);
        for (int t = 0; t < inputs.Length; t++)
            inputs[t] = words[2 * t] < writeBelow ? ((words[2 * t + 1] & 1) == 0 ? Automaton.Sigma0 : Automaton.Sigma1) : Automaton.Bottom;
        Automaton.Run(inputs, states);
    }

    public AutomatonDataset SampleMany(ulong seed, long firstIndex, int count, int length)
    {
        if (length < 1) throw new ArgumentException($"automaton sequence length must be at least 1, got {length}");
        var inputs = new byte[(long)count * length];
        var states = new byte[(long)count * length];
        Parallel.For(0, count, s => Sample(seed, firstIndex + s, inputs.AsSpan(s * length, length), states.AsSpan(s * length, length)));
        return new AutomatonDataset(inputs, states, count, length);
    }
}

/// <summary>
/// Automaton files: text lines "INPUT\tSTATE" (e.g. "0--1-\t00011") or Parquet with string columns
/// <c>input</c> and <c>state</c>. Validation checks characters, equal lengths and that every state is the
/// automaton's state after its input.
/// </summary>
public static class AutomatonFiles
{
    static readonly string[] Fields = ["input", "state"];

    public static void Write(string path, AutomatonDataset data)
    {
        var inputs = new string[data.Count];
        var states = new string[data.Count];
        for (int i = 0; i < data.Count; i++) { inputs[i] = data.InputText(i); states[i] = data.StateText(i); }
        RecordFiles.Write(path, Fields, [inputs, states]);
    }

    public static (AutomatonDataset? Data, ProblemLog Problems) Check(string path, int problemLimit = 100)
    {
        using var file = DataInput.Open(path);
        return Check(file, problemLimit);
    }

    /// <summary>Validates every sequence of an opened input (which this reads, once).</summary>
    public static (AutomatonDataset? Data, ProblemLog Problems) Check(DataInput file, int problemLimit = 100)
    {
        var problems = new ProblemLog(file.Path, file.Unit, problemLimit);
        var inputs = new List<byte>();
        var states = new List<byte>();
        int length = -1, count = 0;
        foreach (var record in file.Records(Fields, problems))
        {
            string? input = record.Fields[0], state = record.Fields[1];
            if (input == null || state == null) { problems.Add(record.Number, 0, "null value"); continue; }
            if (input.Length == 0) { problems.Add(record.Number, 0, "empty input sequence"); continue; }
            if (state.Length != input.Length)
            {
                problems.Add(record.Number, 0, $"state has {state.Length} characters, input has {input.Length}");
                continue;
            }
            if (length >= 0 && input.Length != length)
            {
                problems.Add(record.Number, 0, $"length {input.Length} differs from the first sequence's {length}");
                continue;
            }
            bool ok = true;
            byte q = 0;
            var rowInputs = new byte[input.Length];
            for (int t = 0; t < input.Length && ok; t++)
            {
                int x = Automaton.InputFromChar(input[t]);
                if (x < 0) { problems.Add(record.Number, t + 1, $"unexpected input character {CharacterNames.Describe(input[t])} (expected '-', '0' or '1')"); ok = false; break; }
                rowInputs[t] = (byte)x;
                q = x switch { Automaton.Sigma0 => 0, Automaton.Sigma1 => 1, _ => q };
                char expected = (char)('0' + q);
                if (state[t] != expected)
                {
                    problems.Add(record.Number, input.Length + 1 + t + 1,
                        $"state {CharacterNames.Describe(state[t])} after input '{input[t]}' at position {t + 1}; the automaton is in state {expected}");
                    ok = false;
                }
            }
            if (!ok) continue;
            length = input.Length;
            inputs.AddRange(rowInputs);
            foreach (char c in state) states.Add((byte)(c - '0'));
            count++;
        }
        if (count == 0 && problems.Total == 0) problems.Add(0, 0, "the file holds no sequences");
        return (problems.Total == 0 ? new AutomatonDataset(inputs.ToArray(), states.ToArray(), count, length) : null, problems);
    }

    public static AutomatonDataset Read(string path, int problemLimit = 100)
    {
        var (data, problems) = Check(path, problemLimit);
        problems.ThrowIfAny();
        return data!;
    }
}
