using System.Numerics;
using RawFlipFlop.Kernels.Devices;

namespace RawFlipFlop.Engine.Training;

/// <summary>AdamW over a model's flat parameter buffer: torch.optim.AdamW(model.parameters()) with its defaults for eps.</summary>
public sealed class AdamW<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    readonly IOps<T> _ops;

    public AdamW(IOps<T> ops, long count, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0.1)
    {
        _ops = ops;
        M = ops.Device.Allocate<T>(count);
        V = ops.Device.Allocate<T>(count);
        Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon; WeightDecay = weightDecay;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }

    /// <summary>First moments (P).</summary>
    public Buf<T> M { get; }
    /// <summary>Second moments (P).</summary>
    public Buf<T> V { get; }
    /// <summary>Updates done so far.</summary>
    public int Steps { get; set; }

    /// <summary>
    /// Update number <see cref="Steps"/> (set by the caller), skipped on the device while skip (1) is set
    /// (<see cref="IOps{T}.LossGuard"/>). Changes no host state, so a step pass may run it more than once.
    /// </summary>
    public void Apply(Buf<T> parameters, Buf<T> gradients, double learningRate, Buf<int> skip = default) =>
        _ops.AdamWUpdate(parameters, gradients, M, V, new AdamWStep(learningRate, Beta1, Beta2, Epsilon, WeightDecay, Steps), parameters.Length, skip);

    public void Dispose()
    {
        _ops.Device.Free(M);
        _ops.Device.Free(V);
    }
}
