using CtcDrafter.Speculative;

namespace CtcDrafter.Drafters;

/// <summary>
/// Prompt lookup (n-gram) drafting: find the latest earlier occurrence of the last n tokens (longest n first,
/// from <paramref name="maxNgram"/> down to <paramref name="minNgram"/>) in the prompt and output so far, and
/// propose the tokens that followed it as a chain. Needs no training; strong where the output copies its input.
/// </summary>
public sealed class PromptLookupDrafter(int maxNgram = 3, int minNgram = 1, int maxDraft = 8) : IDrafter
{
    readonly List<int> _history = [];

    public string Name => "prompt-lookup";

    public void Reset() => _history.Clear();

    public IDrafter Spawn() => new PromptLookupDrafter(maxNgram, minNgram, maxDraft);

    public void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden)
    {
        foreach (int t in tokens) _history.Add(t);
    }

    public DraftTree Propose(int root, int maxNodes)
    {
        var tree = new DraftTree(root);
        _history.Add(root); // the pending root ends the pattern to look up
        try
        {
            int limit = Math.Min(maxDraft, maxNodes - 1);
            if (limit <= 0) return tree;
            int end = _history.Count;
            for (int n = Math.Min(maxNgram, end - 1); n >= minNgram; n--)
            {
                // Latest earlier occurrence of history[end-n .. end) that has at least one token after it.
                for (int start = end - n - 1; start >= 0; start--)
                {
                    if (!Matches(start, end - n, n)) continue;
                    int node = 0;
                    for (int k = start + n; k < end && tree.Count <= limit; k++) node = tree.Add(node, _history[k]);
                    return tree;
                }
            }
            return tree;
        }
        finally { _history.RemoveAt(_history.Count - 1); }
    }

    bool Matches(int a, int b, int n)
    {
        for (int i = 0; i < n; i++)
            if (_history[a + i] != _history[b + i]) return false;
        return true;
    }
}
