namespace CtcDrafter.Training.Pretraining;

/// <summary>Linear warm-up to the peak rate, then cosine decay to the minimum rate at the last step.</summary>
internal static class LearningRateSchedule
{
    /// <summary>The rate for optimizer step <paramref name="step"/> (0-based) of <paramref name="totalSteps"/>.</summary>
    public static double At(long step, long totalSteps, PretrainConfig config)
    {
        if (step < config.WarmupSteps) return config.LearningRate * (step + 1) / config.WarmupSteps;
        long decaySteps = Math.Max(1, totalSteps - config.WarmupSteps);
        double progress = Math.Clamp((double)(step - config.WarmupSteps) / decaySteps, 0, 1);
        return config.MinLearningRate + 0.5 * (config.LearningRate - config.MinLearningRate) * (1 + Math.Cos(Math.PI * progress));
    }
}
