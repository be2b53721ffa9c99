using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training.Tasks;

/// <summary>
/// Attention maps of the mechanistic experiment (layer 0, head 0), saved as tensors for the report:
/// `paper_input` (8,8) on the paper's input [sigma1, bottom, sigma0, bottom, bottom, sigma0, sigma1, bottom]
/// (Figures 10/13), and for models without a learned position table the drift maps (Figure 11) at the drift
/// length: `drift_a` on [sigma1, bottom...] and `drift_b` on [sigma0, bottom..., sigma1, bottom...].
/// </summary>
public static class AttentionMaps
{
    public const string FileName = "attention.safetensors";

    public static readonly byte[] PaperInput =
        [Automaton.Sigma1, Automaton.Bottom, Automaton.Sigma0, Automaton.Bottom, Automaton.Bottom, Automaton.Sigma0, Automaton.Sigma1, Automaton.Bottom];

    public static float[] Map(TransformerModel<float> model, byte[] inputs)
    {
        var device = model.Ops.Device;
        var tokens = device.AllocateFrom<int>(inputs.Select(x => (int)x).ToArray());
        try
        {
            model.Forward(tokens, 1, inputs.Length, PassOptions.Evaluation);
            var probs = device.ToArray(model.AttentionProbabilities(0));
            return probs[..(inputs.Length * inputs.Length)]; // head 0 of batch 0
        }
        finally { device.Free(tokens); }
    }

    public static void Save(string path, TransformerModel<float> model, TrainOptions options)
    {
        var tensors = new List<SafeTensor> { SafeTensor.FromFloats("paper_input", [8, 8], Map(model, PaperInput)) };
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
