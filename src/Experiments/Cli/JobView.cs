using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>Renders the events of one <see cref="TrainingJob"/> on stderr: a live training line, then a line per evaluation pass.</summary>
public sealed class JobView(CliOutput output, bool quiet, string label)
{
    ProgressLine? _line;
    string? _pass;
    readonly System.Diagnostics.Stopwatch _evalClock = new();

    public void Show(JobEvent e)
    {
        if (quiet) return;
        switch (e.Phase)
        {
            case JobPhase.Start:
                if (e.ResumedAt is { } step) output.Err.WriteLine($"{label}: resumed at step {step}");
                _line = new ProgressLine(output, label);
                break;
            case JobPhase.Train when e.Training is { } p:
                _line?.Update($"step {p.Step}/{p.Steps} loss {p.Loss:0.0000}" + (p.LastOnline is { } o ? $" online {o.Errors}/{o.Reads} errors (step {o.Step})" : ""),
                    p.Step, p.Steps, p.Elapsed);
                break;
            case JobPhase.Evaluate when e.Evaluation is { } v:
                string pass = $"eval {EnumText<Iterate>.Of(v.Iterate)} on {v.Split}";
                if (pass != _pass)
                {
                    _line?.Done();
                    _line = new ProgressLine(output, pass);
                    _pass = pass;
                    _evalClock.Restart();
                }
                _line!.Update($"{v.Done}/{v.Total} sequences", v.Done, v.Total, _evalClock.Elapsed);
                break;
            case JobPhase.Done:
                _line?.Done();
                _line = null;
                if (e.Run.Model.Device is RawFlipFlop.Kernels.Devices.IKernelDevice) output.Err.WriteLine($"{label}: {StepsLine(e.Run)}");
                break;
        }
    }

    /// <summary>How the training steps ran on a kernel device: as graph launches, or directly and why.</summary>
    public static string StepsLine(TrainingRun<float> run)
    {
        var g = run.Graph;
        string how = g.DirectReason is { } why
            ? $"steps as separate launches ({why})"
            : $"steps as CUDA graph launches: {g.Launches} launches of {g.Captures} capture(s), {g.DirectRuns} step(s) direct, {g.UpdatedNodes} kernel nodes rewritten";
        return $"{how}; losses read every {run.Execution.LossReadInterval} steps";
    }
}
