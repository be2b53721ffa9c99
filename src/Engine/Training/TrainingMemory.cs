using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training.Tasks;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training;

/// <summary>
/// What a run will need at its peak, computed from the same layouts the models allocate, so that a run that cannot fit
/// is refused before it starts ("needs N GiB, M available") instead of aborting halfway. Counted: parameters,
/// gradients and AdamW moments; the activations of the largest batch shape the run forwards (training, evaluation,
/// the automaton's drift length and attention maps), with the device's attention state; per-step buffers; host copies
/// of the parameters (best-so-far, the final weights during evaluation, state saving); the evaluation sets.
/// </summary>
public static class TrainingMemory
{
    /// <summary>Bytes of memory the run needs (all host memory on the CPU and the emulator).</summary>
    public static long Bytes(TrainOptions options, IOps<float> ops)
    {
        var config = options.Model;
        long parameters = ParameterLayout.For(config).Count;
        int evalBatch = options.EvalBatch ?? Evaluator<float>.DefaultBatch(config);
        var shapes = new List<(int B, int T)> { (options.Batch, options.Length), (evalBatch, options.Length) };
        if (options.Task == TaskKind.Automaton)
        {
            shapes.Add((options.Batch, options.Length));
            if (config.MaxSequenceLength == int.MaxValue) shapes.Add((Math.Max(1, options.Batch), AutomatonTask.DriftLength(options.Length)));
        }
        long activations = shapes.Max(s => ActivationFloats(config, s.B, s.T, ops));
        long analysis = options.Task == TaskKind.Automaton && config.IsTransformer
            ? MemoryBudget.Product(2, config.Heads, AutomatonTask.DriftLength(options.Length), AutomatonTask.DriftLength(options.Length))
            : 0;
        long perStep = MemoryBudget.Product(options.Batch, options.Length, 3 + config.VocabSize);
        long floats = Sum(MemoryBudget.Product(4, parameters), activations, analysis, perStep, MemoryBudget.Product(4, parameters) /* host copies */);
        long evaluationSets = options.Offline.Aggregate(MemoryBudget.Product(options.EvalCount, options.Length),
            (sum, split) => Sum(sum, MemoryBudget.Product(split.Count, options.Length)));
        if (options.Task == TaskKind.Automaton)
            evaluationSets = MemoryBudget.Product(4, Math.Max(1, options.EvalCount), AutomatonTask.DriftLength(options.Length));
        return Sum(MemoryBudget.Product(floats, sizeof(float)), evaluationSets);
    }

    /// <summary>Refuses a run that needs more memory than the machine has free.</summary>
    public static void Check(TrainOptions options, IOps<float> ops, long? available = null)
    {
        long bytes = Bytes(options, ops);
        MemoryBudget.Require(bytes, $"batch {options.Batch} x length {options.Length} with {options.Model} and its evaluation sets", available);
    }

    static long ActivationFloats(ModelConfig config, int b, int t, IOps<float> ops)
    {
        if (b < 1 || t < 1) return 0;
        try
        {
            return config.IsLstm ? LstmActivations.Declare(config, b, t).Layout.Count
                : TransformerActivations.Declare(config, b, t, ops.AttentionSavedLength(b, t, config.Heads)).Layout.Count;
        }
        catch (OverflowException) { return long.MaxValue; }
        catch (ArgumentException) { return long.MaxValue; } // a size the layout's checked arithmetic refused
    }

    static long Sum(params long[] parts)
    {
        long total = 0;
        foreach (var p in parts)
        {
            if (p == long.MaxValue || total > long.MaxValue - p) return long.MaxValue;
            total += p;
        }
        return total;
    }
}
