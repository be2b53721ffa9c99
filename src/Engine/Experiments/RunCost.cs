using RawFlipFlop.Engine.Models;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Engine.Experiments;

/// <summary>
/// A reference step time a cost estimate is scaled from: one training step of <see cref="Options"/> on a device,
/// measured (a benchmark on a named machine) or estimated (from machine code, no run), with where it comes from.
/// </summary>
public sealed record StepTimeReference(string Device, string Family, TrainOptions Options, double Seconds, bool Measured, string Source)
{
    /// <summary>Effective FLOP/s of a training step of the reference (forward, backward and update).</summary>
    public double FlopsPerSecond => RunCost.StepFlops(Options) / Seconds;
}

/// <summary>The estimated wall time of a run on a device, and whether the step time behind it was measured.</summary>
public sealed record RunEstimate(string Device, double Hours, bool Measured, string Source);

/// <summary>
/// What a run costs: FLOPs of training (3x a forward pass per step: forward, input and weight gradients) and of its
/// evaluations (forward passes), turned into hours by the effective FLOP rate of a reference step of the same model
/// family on the device. Model FLOPs count multiply-adds of matrix products and attention as 2; element-wise work is
/// left out, which the reference rate absorbs.
/// </summary>
public static class RunCost
{
    public const string Cpu = "cpu", Gpu = "gpu";

    /// <summary>
    /// The step times estimates scale from. CPU: measured with bench/compare-pytorch.sh on the 2-core Zen 3 (AVX2)
    /// machine (README, Benchmarks). GPU: estimated from the sm_90 SASS of the kernels (README, GPU estimates), no GPU run yet.
    /// </summary>
    public static IReadOnlyList<StepTimeReference> References { get; } =
    [
        new(Cpu, ModelConfig.TransformerKind, ExperimentCatalog.PaperBaseline, 7.80, Measured: true,
            "baseline step measured on the 2-core Zen 3 machine (bench/compare-pytorch.sh)"),
        // a whole cpu-scale baseline run (4000 steps and its evaluations) took 2.9 minutes on the shared 2-core machine:
        // its step time is that run's time in proportion to the step's share of the run's FLOPs
        new(Cpu, ModelConfig.TransformerKind, ExperimentCatalog.CpuBaseline,
            2.9 * 60 * StepFlops(ExperimentCatalog.CpuBaseline) / RunFlops(ExperimentCatalog.CpuBaseline), Measured: true,
            "cpu-scale baseline run measured on the 2-core machine while shared (load about 14; bench/cpu-scale-search.sh)"),
        new(Cpu, ModelConfig.LstmKind, LstmReference, 0.107, Measured: true,
            "LSTM 133K step measured on the 2-core Zen 3 machine (bench/compare-pytorch.sh)"),
        new(Gpu, ModelConfig.TransformerKind, ExperimentCatalog.PaperBaseline, 0.024, Measured: false,
            "baseline step on one H100 in FP32 estimated from the sm_90 SASS of the tiled kernels (README: 19 to 30 ms; no GPU measurement)"),
        new(Gpu, ModelConfig.LstmKind, LstmReference, 0.004, Measured: false,
            "LSTM step on one H100 estimated from the sm_90 SASS of the persistent kernels (no GPU measurement)"),
    ];

    static TrainOptions LstmReference => new() { Model = ModelConfig.Lstm(128, 128), Batch = 16, Length = 512 };

    /// <summary>FLOPs of one forward pass over one sequence of <paramref name="length"/> tokens.</summary>
    public static double ForwardFlopsPerSequence(ModelConfig model, int length)
    {
        double perToken;
        if (model.IsLstm)
        {
            double h = model.Hidden, e = model.EmbedDim;
            perToken = 2 * 4 * h * (e + h) + 2 * h * model.VocabSize;
        }
        else
        {
            double d = model.Dim, layers = model.Layers;
            // qkv 3d^2, projection d^2, feed-forward 2 x 4d^2 = 12 d^2 multiply-adds per layer; causal attention
            // averages (T+1)/2 keys per query for QK^T and again for PV
            double attention = 2 * 2 * d * (length + 1) / 2.0;
            perToken = layers * (2 * 12 * d * d + attention) + 2 * d * model.VocabSize;
        }
        return perToken * length;
    }

    /// <summary>FLOPs of one training step.</summary>
    public static double StepFlops(TrainOptions o) => 3 * o.Batch * ForwardFlopsPerSequence(o.Model, o.Length);

    /// <summary>FLOPs of a whole run: its steps, every online evaluation and the offline evaluations of the final and best iterates.</summary>
    public static double RunFlops(TrainOptions o)
    {
        double sequence = ForwardFlopsPerSequence(o.Model, o.Length);
        int onlineEvaluations = o.EvalEvery > 0 && o.EvalCount > 0 ? o.Steps / o.EvalEvery + (o.Steps % o.EvalEvery == 0 ? 0 : 1) : 0;
        long offline = o.Offline.Sum(s => (long)s.Count);
        return o.Steps * StepFlops(o) + sequence * ((double)onlineEvaluations * o.EvalCount + 2.0 * offline);
    }

    /// <summary>
    /// The estimated hours of a run on <paramref name="device"/> (cpu or gpu), from the reference of its model family
    /// whose step FLOPs are nearest its own (on a log scale: small models run at a lower FLOP rate than large ones).
    /// </summary>
    public static RunEstimate Estimate(TrainOptions o, string device)
    {
        string family = o.Model.IsLstm ? ModelConfig.LstmKind : ModelConfig.TransformerKind;
        double step = StepFlops(o);
        var reference = References.Where(r => r.Device == device && r.Family == family)
            .MinBy(r => Math.Abs(Math.Log(StepFlops(r.Options) / step)))
            ?? throw new ArgumentException($"no {device} reference for {family}");
        return new RunEstimate(device, RunFlops(o) / reference.FlopsPerSecond / 3600, reference.Measured, reference.Source);
    }
}
