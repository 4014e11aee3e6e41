namespace CtcDrafter.Generation;

/// <summary>Why generation ended (<see cref="TimeLimit"/>: the request's deadline passed, see <see cref="BatchOptions.Timeout"/>).</summary>
public enum FinishReason { EndOfSequence, StopString, MaxTokens, ContextFull, TimeLimit }

/// <summary>The generated tokens (an end-of-sequence token included when it ended the run), text and statistics.</summary>
public sealed record GenerationResult(IReadOnlyList<int> Tokens, string Text, FinishReason Finish, GenerationStats Stats)
{
    /// <summary>Per generated token, its log-probability and the most likely alternatives, when the request asked for them.</summary>
    public IReadOnlyList<TokenLogprob>? Logprobs { get; init; }
}

/// <summary>Counters of one generation; <c>Tau = NewTokens / Steps</c>, steps being base forward passes after prefill.</summary>
public sealed record GenerationStats
{
    public string Method { get; init; } = "vanilla";
    public int PromptTokens { get; init; }
    /// <summary>Prompt tokens the prefill ran; the rest were already in the sequence's cache from the previous call.</summary>
    public int PrefillTokens { get; init; }
    /// <summary>Prompt tokens reused from the cache of the previous call (the common prefix), not run again.</summary>
    public int CachedTokens => PromptTokens - PrefillTokens;
    public int NewTokens { get; init; }
    public int Steps { get; init; }
    public double Tau => Steps == 0 ? 0 : (double)NewTokens / Steps;
    /// <summary>Draft tokens verified, summed over the steps (the tree sizes the budget chose, root not counted).</summary>
    public int DraftNodes { get; init; }
    /// <summary>acceptedPerDepth[d] = steps whose accepted draft path reached depth d + 1.</summary>
    public IReadOnlyList<int> AcceptedPerDepth { get; init; } = [];
    /// <summary>Draft tokens accepted at each step, in order (the base model's own token of the step not counted).</summary>
    public IReadOnlyList<int> AcceptedPerStep { get; init; } = [];
    public double PrefillMs { get; init; }
    public double DecodeMs { get; init; }
    public double DraftMs { get; init; }
    public double VerifyMs { get; init; }
    public double TokensPerSecond => DecodeMs <= 0 ? 0 : NewTokens / (DecodeMs / 1000.0);
}
