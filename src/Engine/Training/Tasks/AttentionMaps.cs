using RawFlipFlop.Engine.Analysis;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training.Tasks;

/// <summary>
/// Attention maps of the automaton models, saved as tensors for the report: `paper_input` (L,H,8,8), every layer and
/// head on the paper's input [sigma1, bottom, sigma0, bottom, bottom, sigma0, sigma1, bottom] (Figures 10, 13, 16, 17),
/// with `paper_predictions` (8) the model's states there; and for models without a learned position table the drift
/// maps of layer 0, head 0 (Figure 11) at the drift length: `drift_a` (n,n) on [sigma1, bottom...] and `drift_b` on
/// [sigma0, bottom..., sigma1, bottom...].
/// </summary>
public static class AttentionMaps
{
    public const string FileName = "attention.safetensors";

    public static readonly byte[] PaperInput =
        [Automaton.Sigma1, Automaton.Bottom, Automaton.Sigma0, Automaton.Bottom, Automaton.Bottom, Automaton.Sigma0, Automaton.Sigma1, Automaton.Bottom];

    /// <summary>Layer 0, head 0 of the model on <paramref name="inputs"/>: (T,T).</summary>
    public static float[] Map(TransformerModel<float> model, byte[] inputs) =>
        AttentionInspection.Of(model, inputs, [0], [0]).Probabilities[0][0];

    public static void Save(string path, TransformerModel<float> model, TrainOptions options)
    {
        var paper = AttentionInspection.Of(model, PaperInput);
        int layers = paper.Layers.Count, heads = paper.Heads.Count, t = PaperInput.Length;
        var tensors = new List<SafeTensor>
        {
            SafeTensor.FromFloats("paper_input", [layers, heads, t, t], paper.Probabilities.SelectMany(l => l.SelectMany(h => h)).ToArray()),
            new("paper_predictions", SafeTensorType.I32, [t], System.Runtime.InteropServices.MemoryMarshal.AsBytes(paper.Predictions.AsSpan()).ToArray()),
        };
        if (options.Model.MaxSequenceLength == int.MaxValue)
        {
            int n = AutomatonTask.DriftLength(options.Length);
            var a = new byte[n]; a[0] = Automaton.Sigma1;
            var b = new byte[n]; b[0] = Automaton.Sigma0; b[n / 2] = Automaton.Sigma1;
            tensors.Add(SafeTensor.FromFloats("drift_a", [n, n], Map(model, a)));
            tensors.Add(SafeTensor.FromFloats("drift_b", [n, n], Map(model, b)));
        }
        SafeTensors.Write(path, tensors, Checkpoint.Metadata(options.Model));
    }
}
