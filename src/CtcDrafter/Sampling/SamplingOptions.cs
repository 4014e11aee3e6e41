namespace CtcDrafter.Sampling;

/// <summary>How the next token is chosen from the logits. Temperature 0 is greedy (argmax, first maximum).</summary>
/// <param name="TopK">Keep the k most likely tokens (0 = all).</param>
/// <param name="TopP">Keep the smallest set of most likely tokens whose probability reaches p (1 = all).</param>
/// <param name="Seed">Seed of the random stream; the same seed gives the same text.</param>
public sealed record SamplingOptions(float Temperature = 0f, int TopK = 0, float TopP = 1f, ulong Seed = 0)
{
    public bool IsGreedy => Temperature <= 0f;

    public static SamplingOptions Greedy { get; } = new();

    /// <summary>
    /// The one check of sampling parameters (library, CLI, chat client and server all come here); throws
    /// <see cref="Generation.RequestFieldException"/> naming the field.
    /// </summary>
    public void Validate()
    {
        if (!float.IsFinite(Temperature) || Temperature < 0)
            throw new Generation.RequestFieldException("temperature", $"temperature must be a finite number >= 0 (got {Temperature})");
        if (TopK < 0) throw new Generation.RequestFieldException("top_k", $"top_k must be >= 0 (got {TopK})");
        if (!(TopP > 0 && TopP <= 1)) throw new Generation.RequestFieldException("top_p", $"top_p must be in (0, 1] (got {TopP})");
    }
}
