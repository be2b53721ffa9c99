using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Analysis;

/// <summary>
/// The attention of a Transformer on one sequence, from the kernels' analysis mode on whatever device the model is on:
/// probabilities and pre-softmax scores (T,T) of the chosen layers and heads, the model's prediction at every position,
/// and where it is wrong. For a language model the scored positions are the reads (the prediction of the bit after an
/// `r`); for the automaton, every position (the state after it).
/// </summary>
public sealed record AttentionInspection(
    byte[] Tokens, bool Automaton, IReadOnlyList<int> Layers, IReadOnlyList<int> Heads,
    // [layer index][head index] -> (T,T) probabilities and scores, row i = query i
    float[][][] Probabilities, float[][][] Scores,
    // (T) the argmax at each position and whether that position is scored and wrong
    int[] Predictions, bool[] Errors)
{
    public int Length => Tokens.Length;

    /// <summary>
    /// Runs the model on <paramref name="tokens"/> (T) and keeps the attention of <paramref name="layers"/> x
    /// <paramref name="heads"/> (null: all).
    /// </summary>
    public static AttentionInspection Of(TransformerModel<float> model, byte[] tokens, IReadOnlyList<int>? layers = null, IReadOnlyList<int>? heads = null)
    {
        var config = model.Config;
        layers ??= Enumerable.Range(0, config.Layers).ToList();
        heads ??= Enumerable.Range(0, config.Heads).ToList();
        foreach (var l in layers)
            if (l < 0 || l >= config.Layers) throw new ArgumentOutOfRangeException(nameof(layers), $"layer {l} outside 0..{config.Layers - 1}");
        foreach (var h in heads)
            if (h < 0 || h >= config.Heads) throw new ArgumentOutOfRangeException(nameof(heads), $"head {h} outside 0..{config.Heads - 1}");
        int t = tokens.Length, v = config.VocabSize;
        var device = model.Ops.Device;
        var input = device.AllocateFrom<int>(tokens.Select(x => (int)x).ToArray());
        try
        {
            var logits = device.ToArray(model.Forward(input, 1, t, PassOptions.Evaluation));
            var predictions = new int[t];
            for (int i = 0; i < t; i++)
            {
                int best = 0;
                for (int k = 1; k < v; k++) if (logits[i * v + k] > logits[i * v + best]) best = k;
                predictions[i] = best;
            }
            bool automaton = v == Data.Automaton.InputVocabulary;
            var errors = automaton ? AutomatonErrors(tokens, predictions) : ReadErrors(tokens, predictions);
            var probs = new float[layers.Count][][];
            var scores = new float[layers.Count][][];
            for (int a = 0; a < layers.Count; a++)
            {
                // (H,T,T) for batch 0
                var p = device.ToArray(model.AttentionProbabilities(layers[a]));
                var s = device.ToArray(model.AttentionScores(layers[a]));
                probs[a] = heads.Select(h => p.AsSpan(h * t * t, t * t).ToArray()).ToArray();
                scores[a] = heads.Select(h => s.AsSpan(h * t * t, t * t).ToArray()).ToArray();
            }
            return new AttentionInspection(tokens, automaton, layers, heads, probs, scores, predictions, errors);
        }
        finally { device.Free(input); }
    }

    static bool[] ReadErrors(byte[] tokens, int[] predictions)
    {
        var errors = new bool[tokens.Length];
        for (int i = 0; i + 1 < tokens.Length; i += 2)
            errors[i] = tokens[i] == Data.Tokens.Read && predictions[i] != tokens[i + 1];
        return errors;
    }

    static bool[] AutomatonErrors(byte[] inputs, int[] predictions)
    {
        var states = new byte[inputs.Length];
        Data.Automaton.Run(inputs, states);
        return predictions.Select((p, i) => p != states[i]).ToArray();
    }

    /// <summary>Positions of writes (instruction `w`, or an automaton input sigma0/sigma1) and of reads (`r`; none for the automaton).</summary>
    public (IReadOnlyList<int> Writes, IReadOnlyList<int> Reads) Landmarks() => Automaton
        ? (Enumerable.Range(0, Length).Where(i => Tokens[i] != Data.Automaton.Bottom).ToList(), [])
        : (Enumerable.Range(0, Length).Where(i => i % 2 == 0 && Tokens[i] == Data.Tokens.Write).ToList(),
           Enumerable.Range(0, Length).Where(i => i % 2 == 0 && Tokens[i] == Data.Tokens.Read).ToList());
}
