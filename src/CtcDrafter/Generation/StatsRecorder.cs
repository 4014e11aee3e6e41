namespace CtcDrafter.Generation;

/// <summary>Accumulates the counters and time split of one generation.</summary>
internal sealed class StatsRecorder(string method, int promptTokens)
{
    readonly List<int> _acceptedPerDepth = [];
    readonly List<int> _acceptedPerStep = [];
    int _steps, _draftNodes;
    TimeSpan _draft, _verify;

    public double PrefillMs { get; set; }
    public int PrefillTokens { get; set; }
    public double DecodeMs { get; set; }

    /// <summary>One verification step over <paramref name="draftNodes"/> draft tokens that accepted <paramref name="accepted"/> of them.</summary>
    public void Step(int accepted, int draftNodes, TimeSpan draft, TimeSpan verify)
    {
        _steps++;
        _draftNodes += draftNodes;
        _draft += draft;
        _verify += verify;
        _acceptedPerStep.Add(accepted);
        while (_acceptedPerDepth.Count < accepted) _acceptedPerDepth.Add(0);
        for (int d = 0; d < accepted; d++) _acceptedPerDepth[d]++;
    }

    public GenerationStats Finish(int newTokens) => new()
    {
        Method = method, PromptTokens = promptTokens, PrefillTokens = PrefillTokens, NewTokens = newTokens, Steps = _steps, DraftNodes = _draftNodes,
        AcceptedPerDepth = [.. _acceptedPerDepth], AcceptedPerStep = [.. _acceptedPerStep], PrefillMs = PrefillMs, DecodeMs = DecodeMs,
        DraftMs = _draft.TotalMilliseconds, VerifyMs = _verify.TotalMilliseconds,
    };
}
