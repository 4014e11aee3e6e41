using CtcDrafter.Sampling;

namespace CtcDrafter.Generation;

/// <summary>What to generate: the prompt as token ids (BOS included when wanted) and when to stop.</summary>
public sealed record GenerationRequest(IReadOnlyList<int> PromptTokens, int MaxNewTokens, SamplingOptions Sampling)
{
    /// <summary>Most alternatives <see cref="Logprobs"/> may ask for (OpenAI's limit).</summary>
    public const int MaxTopLogprobs = 20;

    /// <summary>
    /// Generation ends at the earliest place where the text contains one of these; the text is cut before it.
    /// </summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>
    /// When set, the result carries every generated token's log-probability and this many most likely
    /// alternatives (0 to <see cref="MaxTopLogprobs"/>).
    /// </summary>
    public int? Logprobs { get; init; }

    /// <summary>Throws <see cref="RequestFieldException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (MaxNewTokens <= 0) throw new RequestFieldException("max_tokens", $"max tokens must be positive (got {MaxNewTokens})");
        Sampling.Validate();
        if (StopStrings.Any(string.IsNullOrEmpty)) throw new RequestFieldException("stop", "a stop string must not be empty");
        if (Logprobs is < 0 or > MaxTopLogprobs)
            throw new RequestFieldException("top_logprobs", $"top_logprobs must be between 0 and {MaxTopLogprobs} (got {Logprobs})");
    }
}
