namespace RawFlipFlop.Engine.Training;

/// <summary>
/// Linear warm-up then linear decay, as transformers' get_linear_schedule_with_warmup(warmup, total) that the
/// paper's training used (Appendix B.2: 50 warm-up steps, decay reaching 0 at step 10001 for 10^4 steps).
/// Update k (1-based) uses lr * f(k - 1) with f(s) = s / warmup for s &lt; warmup, else
/// max(0, (total - s) / (total - warmup)). As in that scheduler, the first update has learning rate 0.
/// </summary>
public sealed record LearningRateSchedule(double PeakLearningRate, int WarmupSteps, int TotalSteps)
{
    /// <summary>The learning rate of update <paramref name="step"/> (1-based).</summary>
    public double At(int step)
    {
        int s = step - 1;
        if (s < WarmupSteps) return PeakLearningRate * s / Math.Max(1, WarmupSteps);
        return PeakLearningRate * Math.Max(0.0, (double)(TotalSteps - s) / Math.Max(1, TotalSteps - WarmupSteps));
    }
}
