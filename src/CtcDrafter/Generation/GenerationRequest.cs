using CtcDrafter.Sampling;

namespace CtcDrafter.Generation;

/// <summary>What to generate: the prompt as token ids (BOS included when wanted) and when to stop.</summary>
public sealed record GenerationRequest(IReadOnlyList<int> PromptTokens, int MaxNewTokens, SamplingOptions Sampling)
{
    /// <summary>Generation ends after the text first contains one of these; the text is cut before it.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
}
