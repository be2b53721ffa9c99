using System.Diagnostics;
using RawFlipFlop.Engine.Experiments;
using RawFlipFlop.Engine.IO;
using RawFlipFlop.Engine.Training;
using Spectre.Console;

namespace RawFlipFlop.Experiments.Cli;

/// <summary>
/// The progress of `experiment run`: on a terminal a live display (Spectre.Console) with a row per active run (step,
/// loss, online errors, ETA) and the overall bar; otherwise plain lines: each run's start and end, and a progress
/// line per run every few seconds. Events may come from several jobs' threads; the runner serialises them.
/// </summary>
public sealed class ExperimentView
{
    sealed record Active(string Id, string Phase, int Step, int Steps, double Loss, OnlineEvaluation? Online, TimeSpan Eta);

    readonly CliOutput _output;
    readonly Dictionary<string, Active> _active = new(StringComparer.Ordinal);
    readonly Dictionary<string, Stopwatch> _lastLine = new(StringComparer.Ordinal);
    readonly Stopwatch _clock = Stopwatch.StartNew();
    int _done, _total;

    ExperimentView(CliOutput output) => _output = output;

    /// <summary>Runs <paramref name="body"/>, giving it the report callback, with the display for the output's kind.</summary>
    public static void Show(CliOutput output, Action<Action<RunnerEvent>> body)
    {
        var view = new ExperimentView(output);
        if (!output.Interactive)
        {
            body(view.Plain);
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(output.Err) });
        console.Live(view.Table()).AutoClear(false).Start(ctx =>
        {
            var refresh = Stopwatch.StartNew();
            body(e =>
            {
                view.Plain(e, printProgress: false);
                if (refresh.ElapsedMilliseconds < 200 && e.Job?.Phase is not (JobPhase.Start or JobPhase.Done) && e.Skipped == null) return;
                ctx.UpdateTarget(view.Table());
                refresh.Restart();
            });
            ctx.UpdateTarget(view.Table());
        });
    }

    string Bar()
    {
        const int width = 20;
        int filled = _total == 0 ? width : width * _done / _total;
        return $"[{new string('#', filled)}{new string('.', width - filled)}] {_done}/{_total}";
    }

    void Plain(RunnerEvent e) => Plain(e, printProgress: true);

    /// <summary>Updates the state; writes a line for starts, ends, skips, and (every 10 s per run) progress.</summary>
    void Plain(RunnerEvent e, bool printProgress)
    {
        _total = e.Total;
        string id = e.Spec.Id;
        if (e.Skipped is { } reason)
        {
            _done++;
            Line($"{Bar()} {id}: skipped ({(reason == SkipReason.Finished ? "finished already" : $"{e.Note} is training it")})", printProgress);
            return;
        }
        var job = e.Job!;
        switch (job.Phase)
        {
            case JobPhase.Start:
                _active[id] = new Active(id, "training", job.Step, job.Run.Options.Steps, double.NaN, null, TimeSpan.Zero);
                _lastLine[id] = Stopwatch.StartNew();
                Line($"{Bar()} {id}: started{(job.ResumedAt is { } step ? $", resumed at step {step}" : "")}", printProgress);
                break;
            case JobPhase.Train when job.Training is { } p:
                _active[id] = new Active(id, "training", p.Step, p.Steps, p.Loss, p.LastOnline, p.Eta);
                if (printProgress && _lastLine[id].Elapsed > TimeSpan.FromSeconds(10))
                {
                    _output.Err.WriteLine($"{id}: step {p.Step}/{p.Steps} loss {p.Loss:0.0000}{Online(p.LastOnline)} ETA {ProgressLine.Format(p.Eta)}");
                    _lastLine[id].Restart();
                }
                break;
            case JobPhase.Evaluate when job.Evaluation is { } v:
                if (_active.TryGetValue(id, out var a))
                    _active[id] = a with { Phase = $"eval {EnumText<Iterate>.Of(v.Iterate)} {v.Split} {v.Done}/{v.Total}" };
                break;
            case JobPhase.Done:
                _active.Remove(id);
                _done++;
                var finals = job.Summary!.Eval.Where(x => x.Iterate == Iterate.Final).Select(x => $"{x.Split} {x.Errors}/{x.Reads}");
                Line($"{Bar()} {id}: {EnumText<RunStatus>.Of(job.Summary.Status)} ({string.Join(", ", finals)})", printProgress);
                break;
        }
    }

    static string Online(OnlineEvaluation? o) => o is null ? "" : $" online {o.Errors}/{o.Reads}";

    /// <summary>Writes a line now (plain output), or above the live display (a terminal).</summary>
    void Line(string text, bool plain)
    {
        if (plain) _output.Err.WriteLine(text);
        else _finished.Add(text);
    }

    readonly List<string> _finished = [];

    /// <summary>The live display: the finished lines so far, a row per active run, the overall bar.</summary>
    Rows Table()
    {
        var table = new Table().Border(TableBorder.Simple).AddColumns("run", "step", "loss", "online errors", "ETA", "phase");
        foreach (var a in _active.Values.OrderBy(a => a.Id, StringComparer.Ordinal))
            table.AddRow(Markup.Escape(a.Id), $"{a.Step}/{a.Steps}", double.IsNaN(a.Loss) ? "" : $"{a.Loss:0.0000}",
                a.Online is { } o ? $"{o.Errors}/{o.Reads}" : "", ProgressLine.Format(a.Eta), Markup.Escape(a.Phase));
        var lines = _finished.TakeLast(20).Select(l => (Spectre.Console.Rendering.IRenderable)new Text(l)).ToList();
        lines.Add(table);
        lines.Add(new Text($"{Bar()}  elapsed {ProgressLine.Format(_clock.Elapsed)}"));
        return new Rows(lines);
    }
}
