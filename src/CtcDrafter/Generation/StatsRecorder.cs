namespace CtcDrafter.Generation;

/// <summary>Accumulates the counters and time split of one generation.</summary>
internal sealed class StatsRecorder(string method, int promptTokens)
{
    readonly List<int> _acceptedPerDepth = [];
    readonly List<int> _acceptedPerStep = [];
    int _steps;
    TimeSpan _draft, _verify;

    public double PrefillMs { get; set; }
    public int PrefillTokens { get; set; }
    public double DecodeMs { get; set; }

    /// <summary>One verification step that accepted <paramref name="accepted"/> draft tokens.</summary>
    public void Step(int accepted, TimeSpan draft, TimeSpan verify)
    {
        _steps++;
        _draft += draft;
        _verify += verify;
        _acceptedPerStep.Add(accepted);
        while (_acceptedPerDepth.Count < accepted) _acceptedPerDepth.Add(0);
        for (int d = 0; d < accepted; d++) _acceptedPerDepth[d]++;
    }

    public GenerationStats Finish(int newTokens) => new()
    {
        Method = method, PromptTokens = promptTokens, PrefillTokens = PrefillTokens, NewTokens = newTokens, Steps = _steps,
        AcceptedPerDepth = [.. _acceptedPerDepth], AcceptedPerStep = [.. _acceptedPerStep], PrefillMs = PrefillMs, DecodeMs = DecodeMs,
        DraftMs = _draft.TotalMilliseconds, VerifyMs = _verify.TotalMilliseconds,
    };
}
