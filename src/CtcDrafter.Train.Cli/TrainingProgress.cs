using CtcDrafter.Training.Pretraining;
using Spectre.Console;

namespace CtcDrafter.Train.Cli;

/// <summary>
/// Shows a training run: a Spectre.Console progress bar with loss, tokens/s and ETA on a terminal, plain log lines
/// every log_interval steps otherwise (bars hide themselves when output is redirected). Every update comes from the
/// training thread, as Spectre's rendering is not thread-safe.
/// </summary>
internal static class TrainingProgress
{
    public static bool Run(Pretrainer trainer, CancellationToken cancellation)
    {
        if (Console.IsOutputRedirected || !AnsiConsole.Profile.Capabilities.Interactive)
            return trainer.Run(e => PrintPlain(e, trainer.State.Config.LogInterval), cancellation);

        bool finished = false;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn())
            .Start(context =>
            {
                var task = context.AddTask("starting", maxValue: trainer.State.TotalSteps);
                task.Value = trainer.State.Step;
                finished = trainer.Run(e =>
                {
                    switch (e)
                    {
                        case StepCompleted s:
                            task.Value = s.Step;
                            task.Description = Markup.Escape(
                                $"step {s.Step}/{s.TotalSteps} loss {s.Loss:F4} {s.TokensPerSecond:N0} tok/s eta {Format(s.Remaining)}");
                            break;
                        default:
                            AnsiConsole.WriteLine(Describe(e));
                            break;
                    }
                }, cancellation);
            });
        return finished;
    }

    static void PrintPlain(TrainingEvent e, int logInterval)
    {
        if (e is StepCompleted s && s.Step % logInterval != 0 && s.Step != s.TotalSteps) return;
        Console.WriteLine(Describe(e));
    }

    static string Describe(TrainingEvent e) => e switch
    {
        StepCompleted s => $"step {s.Step}/{s.TotalSteps}  loss {s.Loss:F4}  lr {s.LearningRate:E2}  " +
            $"{s.TokensPerSecond:N0} tok/s  elapsed {Format(s.Elapsed)}  eta {Format(s.Remaining)}",
        Evaluated v => $"step {v.Step}: held-out loss {v.HeldOutLoss:F4} (perplexity {Math.Exp(v.HeldOutLoss):F2})",
        CheckpointSaved c => $"step {c.Step}: checkpoint written to {c.Path}",
        _ => e.ToString(),
    };

    static string Format(TimeSpan t) => $"{(int)t.TotalHours:D2}:{t.Minutes:D2}:{t.Seconds:D2}";
}
