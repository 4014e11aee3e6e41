namespace CtcDrafter.Training.Pretraining;

/// <summary>What the training loop reports as it goes.</summary>
internal abstract record TrainingEvent;

/// <summary>An optimizer step finished; <paramref name="TokensPerSecond"/> is a moving average.</summary>
internal sealed record StepCompleted(
    long Step, long TotalSteps, double Loss, double LearningRate, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Remaining)
    : TrainingEvent;

internal sealed record Evaluated(long Step, double HeldOutLoss) : TrainingEvent;

internal sealed record CheckpointSaved(long Step, string Path) : TrainingEvent;
