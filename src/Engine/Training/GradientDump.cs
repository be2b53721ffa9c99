using System.Numerics;
using RawFlipFlop.Engine.Checkpoints;
using RawFlipFlop.Engine.Data;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training;

/// <summary>
/// The loss and the gradient of every parameter for a batch of flip-flop strings, as PyTorch computes them:
/// loss = mean cross-entropy over every scored position of the batch (no regularizer, no dropout).
/// This is how users check the engine against any other implementation (`grads` command).
/// </summary>
public static class GradientDump
{
    public sealed record Result(ModelConfig Config, LossMode Mode, double Loss, int ScoredPositions, IReadOnlyList<(TensorSpec Spec, double[] Gradient)> Gradients);

    public static Result Compute<T>(ModelBase<T> model, FlipFlopDataset batch, LossMode mode) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int b = batch.Count, t = batch.Length, n = b * t;
        if (t > model.Config.MaxSequenceLength)
            throw new ArgumentException($"sequences of length {t} exceed the model's max_length {model.Config.MaxLength}");
        var targets = new int[n];
        int scored = LossTargets.Build(batch.Tokens, b, t, mode, targets);
        if (scored == 0) throw new ArgumentException($"the batch has no scored position in {EnumText<LossMode>.Of(mode)} mode (no reads)");
        var ops = model.Ops;
        var device = ops.Device;
        var tokens = device.AllocateFrom<int>(batch.Tokens.Select(x => (int)x).ToArray());
        var targetBuf = device.AllocateFrom<int>(targets);
        var losses = device.Allocate<T>(n);
        var dlogits = device.Allocate<T>((long)n * model.Config.VocabSize);
        var sum = device.Allocate<T>(1);
        try
        {
            model.ZeroGradients();
            var logits = model.Forward(tokens, b, t, PassOptions.Evaluation);
            ops.CrossEntropyForwardBackward(losses, dlogits, logits, targetBuf, T.One / T.CreateTruncating(scored), n, model.Config.VocabSize);
            ops.SumForward(sum, losses, n);
            double loss = double.CreateTruncating(device.ToArray(sum)[0]) / scored;
            model.Backward(dlogits, PassOptions.Evaluation);
            var grads = device.ToArray(model.Gradients);
            var list = model.Layout.Tensors
                .Select(spec => (spec, grads.AsSpan((int)spec.Offset, (int)spec.Count).ToArray().Select(double.CreateTruncating).ToArray()))
                .ToList();
            return new Result(model.Config, mode, loss, scored, list);
        }
        finally
        {
            device.Free(tokens); device.Free(targetBuf); device.Free(losses); device.Free(dlogits); device.Free(sum);
        }
    }

    /// <summary>Writes `loss` [1] and every gradient under its parameter's name; F32 for float models, F64 for double.</summary>
    public static void Write(string path, Result result, bool asDouble)
    {
        var tensors = new List<SafeTensor>();
        SafeTensor Make(string name, int[] shape, double[] values) => asDouble
            ? SafeTensor.FromDoubles(name, shape, values)
            : SafeTensor.FromFloats(name, shape, values.Select(v => (float)v).ToArray());
        tensors.Add(Make("loss", [1], [result.Loss]));
        foreach (var (spec, gradient) in result.Gradients) tensors.Add(Make(spec.Name, spec.Shape, gradient));
        SafeTensors.Write(path, tensors, new Dictionary<string, string>
        {
            [Checkpoint.ConfigKey] = Json.Serialize(result.Config),
            ["mode"] = EnumText<LossMode>.Of(result.Mode),
            ["scored_positions"] = result.ScoredPositions.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["dtype"] = asDouble ? "float64" : "float32",
        });
    }
}
