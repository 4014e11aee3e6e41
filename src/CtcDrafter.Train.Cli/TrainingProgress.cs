using CtcDrafter.Training.Pretraining;
using Spectre.Console;

namespace CtcDrafter.Train.Cli;

/// <summary>
/// Shows a long-running command (pretraining, distillation, draft training): a Spectre.Console progress bar on a
/// terminal, plain log lines every log_interval steps otherwise (bars hide themselves when output is redirected).
/// Every update comes from the working thread, as Spectre's rendering is not thread-safe.
/// </summary>
internal static class TrainingProgress
{
    /// <summary>Runs <paramref name="work"/>, which reports through the action it is given; returns what it returns.</summary>
    public static bool Run(long step, long totalSteps, int logInterval, Func<Action<TrainingEvent>, bool> work)
    {
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
            return work(e => PrintPlain(e, logInterval));

        bool finished = false;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn())
            .Start(context =>
            {
                var task = context.AddTask("starting", maxValue: Math.Max(1, totalSteps));
                task.Value = step;
                finished = work(e =>
                {
                    if (e is ProgressEvent p)
                    {
                        task.Value = p.Step;
                        task.Description = Markup.Escape(Short(p));
                    }
                    else
                    {
                        AnsiConsole.WriteLine(Describe(e));
                    }
                });
            });
        return finished;
    }

    static void PrintPlain(TrainingEvent e, int logInterval)
    {
        if (e is ProgressEvent p && p.Step % logInterval != 0 && p.Step != p.TotalSteps) return;
        Console.WriteLine(Describe(e));
    }

    static string Short(ProgressEvent e) => e switch
    {
        StepCompleted s => $"step {s.Step}/{s.TotalSteps} loss {s.Loss:F4} {s.TokensPerSecond:N0} tok/s eta {Format(s.Remaining)}",
        SampleDistilled d => $"sample {d.Step}/{d.TotalSteps} {d.TokensPerSecond:N0} tok/s eta {Format(d.Remaining)}",
        _ => Describe(e),
    };

    static string Describe(TrainingEvent e) => e switch
    {
        StepCompleted s => $"step {s.Step}/{s.TotalSteps}  loss {s.Loss:F4}  lr {s.LearningRate:E2}  " +
            $"{s.TokensPerSecond:N0} tok/s  elapsed {Format(s.Elapsed)}  eta {Format(s.Remaining)}",
        SampleDistilled d => $"sample {d.Step}/{d.TotalSteps}  {d.Id}: {d.AnswerTokens} answer tokens  " +
            $"{d.TokensPerSecond:N0} tok/s  elapsed {Format(d.Elapsed)}  eta {Format(d.Remaining)}",
        Evaluated v => $"step {v.Step}: held-out loss {v.HeldOutLoss:F4} (perplexity {Math.Exp(v.HeldOutLoss):F2})",
        CheckpointSaved c => $"step {c.Step}: checkpoint written to {c.Path}",
        DraftEvaluated d => $"step {d.Evaluation.Step}: held-out loss {d.Evaluation.Loss:F4}, top-1 accuracy by depth " +
            $"{string.Join(" ", d.Evaluation.Accuracy.Select(a => a.ToString("P1")))}, prefix " +
            $"{string.Join(" ", d.Evaluation.PrefixAccuracy.Select(a => a.ToString("P1")))} ({d.Evaluation.Anchors} chain starts)",
        _ => e.ToString(),
    };

    static string Format(TimeSpan t) => $"{(int)t.TotalHours:D2}:{t.Minutes:D2}:{t.Seconds:D2}";
}
