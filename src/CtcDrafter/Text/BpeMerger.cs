namespace CtcDrafter.Text;

/// <summary>
/// The BPE merge loop of SentencePiece (bpe_model.cc) and of Hugging Face's BPE model: from one symbol per
/// character, repeatedly merge the adjacent pair with the highest score, the leftmost pair among equal scores,
/// until no adjacent pair merges. Symbols are spans of one string, so a merge widens the left symbol and
/// empties the right one; the first symbol is never removed.
/// </summary>
internal static class BpeMerger
{
    internal struct Symbol
    {
        public int Start, Length; // the symbol's span of the text; Length 0 once merged into its left neighbour
        public int Prev, Next;    // neighbours in the list, -1 at the ends
        public int Id;            // piece id when the rule knows it, else -1
        public bool Frozen;       // never merged (SentencePiece user-defined symbols)
    }

    /// <summary>Decides whether two adjacent symbols merge, with what score (higher merges first) into which id.</summary>
    internal delegate bool PairRule(ReadOnlySpan<char> text, in Symbol left, in Symbol right, out float score, out int mergedId);

    private readonly record struct Candidate(int Left, int Right, int Size, float Score, int MergedId);

    private sealed class CandidateOrder : IComparer<Candidate>
    {
        public static readonly CandidateOrder Instance = new();

        public int Compare(Candidate a, Candidate b) =>
            a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left);
    }

    /// <summary>Creates one symbol per character (a surrogate pair is one character), except where
    /// <paramref name="wholeSymbolAt"/> gives the length of a frozen symbol starting at a position.</summary>
    public static Symbol[] Split(string text, Func<string, int, int>? wholeSymbolAt = null)
    {
        var symbols = new Symbol[text.Length];
        int count = 0;
        for (int i = 0; i < text.Length;)
        {
            int whole = wholeSymbolAt?.Invoke(text, i) ?? 0;
            int length = whole > 0 ? whole
                : char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            symbols[count] = new Symbol { Start = i, Length = length, Prev = count - 1, Next = count + 1, Id = -1, Frozen = whole > 0 };
            count++;
            i += length;
        }
        Array.Resize(ref symbols, count);
        if (count > 0) symbols[count - 1].Next = -1;
        return symbols;
    }

    /// <summary>Runs the merges in place; afterwards the symbols left are reached from index 0 through
    /// <see cref="Symbol.Next"/>.</summary>
    public static void Run(ReadOnlySpan<char> text, Span<Symbol> symbols, PairRule rule)
    {
        var agenda = new PriorityQueue<Candidate, Candidate>(CandidateOrder.Instance);
        for (int i = 1; i < symbols.Length; i++) Consider(text, symbols, i - 1, i, rule, agenda);
        while (agenda.TryDequeue(out var top, out _))
        {
            ref var left = ref symbols[top.Left];
            ref var right = ref symbols[top.Right];
            // An entry goes stale when either side has since merged with another neighbour.
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != top.Size) continue;
            left.Length = top.Size;
            left.Id = top.MergedId;
            left.Next = right.Next;
            if (right.Next >= 0) symbols[right.Next].Prev = top.Left;
            right.Length = 0;
            Consider(text, symbols, left.Prev, top.Left, rule, agenda);
            Consider(text, symbols, top.Left, left.Next, rule, agenda);
        }
    }

    private static void Consider(ReadOnlySpan<char> text, Span<Symbol> symbols, int left, int right, PairRule rule,
        PriorityQueue<Candidate, Candidate> agenda)
    {
        if (left < 0 || right < 0 || symbols[left].Frozen || symbols[right].Frozen) return;
        if (!rule(text, symbols[left], symbols[right], out float score, out int mergedId)) return;
        var candidate = new Candidate(left, right, symbols[left].Length + symbols[right].Length, score, mergedId);
        agenda.Enqueue(candidate, candidate);
    }
}
