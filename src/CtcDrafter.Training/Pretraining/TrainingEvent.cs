namespace CtcDrafter.Training.Pretraining;

/// <summary>What a training loop (pretraining, distillation, draft training) reports as it goes.</summary>
internal abstract record TrainingEvent;

/// <summary>An event that advances a progress bar: <paramref name="Step"/> of <paramref name="TotalSteps"/> done.</summary>
internal abstract record ProgressEvent(long Step, long TotalSteps, TimeSpan Elapsed, TimeSpan Remaining) : TrainingEvent;

/// <summary>An optimizer step finished; <paramref name="TokensPerSecond"/> is a moving average.</summary>
internal sealed record StepCompleted(
    long Step, long TotalSteps, double Loss, double LearningRate, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Remaining)
    : ProgressEvent(Step, TotalSteps, Elapsed, Remaining);

/// <summary>A distillation sample was answered; <paramref name="TokensPerSecond"/> counts answer tokens over the run.</summary>
internal sealed record SampleDistilled(
    long Step, long TotalSteps, string Id, int AnswerTokens, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Remaining)
    : ProgressEvent(Step, TotalSteps, Elapsed, Remaining);

internal sealed record Evaluated(long Step, double HeldOutLoss) : TrainingEvent;

internal sealed record CheckpointSaved(long Step, string Path) : TrainingEvent;

/// <summary>A held-out evaluation of a draft during or after training.</summary>
internal sealed record DraftEvaluated(Drafts.DraftEvaluation Evaluation) : TrainingEvent;
