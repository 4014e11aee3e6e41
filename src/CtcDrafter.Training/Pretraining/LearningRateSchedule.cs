namespace CtcDrafter.Training.Pretraining;

/// <summary>Linear warm-up to the peak rate, then cosine or linear decay to the minimum rate at the last step.</summary>
internal static class LearningRateSchedule
{
    /// <summary>Pretraining's schedule: cosine decay.</summary>
    public static double At(long step, long totalSteps, PretrainConfig config) =>
        At(step, totalSteps, config.WarmupSteps, config.LearningRate, config.MinLearningRate, cosine: true);

    /// <summary>The rate for optimizer step <paramref name="step"/> (0-based) of <paramref name="totalSteps"/>.</summary>
    public static double At(long step, long totalSteps, long warmupSteps, double peak, double minimum, bool cosine)
    {
        if (step < warmupSteps) return peak * (step + 1) / warmupSteps;
        long decaySteps = Math.Max(1, totalSteps - warmupSteps);
        double progress = Math.Clamp((double)(step - warmupSteps) / decaySteps, 0, 1);
        double fraction = cosine ? 0.5 * (1 + Math.Cos(Math.PI * progress)) : 1 - progress;
        return minimum + (peak - minimum) * fraction;
    }
}
