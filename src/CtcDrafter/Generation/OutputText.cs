using CtcDrafter.Text;

namespace CtcDrafter.Generation;

/// <summary>
/// The text of the committed tokens as it grows: streams complete UTF-8 characters and detects stop strings.
/// Text that could still be the beginning of a stop string is held back until it is known not to be one. Each
/// streamed piece is the text of one token, with that token's depth.
/// </summary>
internal sealed class OutputText(TextTokenizer? tokenizer, IReadOnlyList<string> stops, Action<TextPiece>? onText)
{
    readonly StreamingDecoder? _decoder = tokenizer?.NewStreamingDecoder();
    readonly System.Text.StringBuilder _text = new();
    readonly List<(int End, int Depth)> _tokens = []; // where each token's text ends in _text, and its depth
    int _emitted;
    int _next; // the first token whose text is not all emitted
    bool _stopped;

    /// <summary>Adds a committed token made at <paramref name="depth"/>; returns true when the text now contains a stop string.</summary>
    public bool Push(int token, int depth)
    {
        if (_decoder is null || _stopped) return _stopped;
        _text.Append(_decoder.Push(token));
        _tokens.Add((_text.Length, depth));
        string s = _text.ToString();
        // The earliest match over all stop strings wins, as if the text were scanned from its start (a match can
        // only begin in the held-back tail, since everything emitted was known not to begin one).
        int first = -1;
        foreach (string stop in stops)
        {
            int at = s.IndexOf(stop, Math.Max(0, _emitted - stop.Length), StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) first = at;
        }
        if (first >= 0)
        {
            _text.Length = first;
            _stopped = true;
            Emit(_text.Length);
            return true;
        }
        int hold = 0;
        foreach (string stop in stops)
            for (int k = Math.Min(stop.Length - 1, s.Length); k > hold; k--)
                if (s.AsSpan(s.Length - k).SequenceEqual(stop.AsSpan(0, k))) { hold = k; break; }
        Emit(s.Length - hold);
        return false;
    }

    void Emit(int upTo)
    {
        for (; _next < _tokens.Count && _emitted < upTo; _next++)
        {
            var (end, depth) = _tokens[_next];
            int to = Math.Min(end, upTo);
            if (to > _emitted) onText?.Invoke(new TextPiece(_text.ToString(_emitted, to - _emitted), depth));
            _emitted = to;
            if (to < end) return; // the rest of this token's text is held back
        }
    }

    /// <summary>Flushes what is held back and returns the whole text.</summary>
    public string Finish()
    {
        if (_decoder is not null && !_stopped)
        {
            _text.Append(_decoder.Flush());
            if (_tokens.Count > 0) _tokens[^1] = (_text.Length, _tokens[^1].Depth);
        }
        Emit(_text.Length);
        return _text.ToString();
    }
}
