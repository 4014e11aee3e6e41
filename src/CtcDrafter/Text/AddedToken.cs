using System.Diagnostics.CodeAnalysis;

namespace CtcDrafter.Text;

/// <summary>A token matched as a whole in the input text before the tokenizer's own algorithm runs.
/// <see cref="Special"/> tokens are matched only when encoding with <c>parseSpecial</c>.</summary>
internal sealed record AddedToken(string Content, int Id, bool Special);

/// <summary>Finds added tokens in text, leftmost first and the longest one at a position.</summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<char, AddedToken[]> byFirstChar;

    public AddedTokenMatcher(IEnumerable<AddedToken> tokens)
    {
        byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .DistinctBy(t => t.Content)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
    }

    public bool IsEmpty => byFirstChar.Count == 0;

    /// <summary>The first added token at or after <paramref name="start"/> that <paramref name="allowed"/> accepts at its
    /// position, with the position.</summary>
    public bool TryFindNext(string text, int start, Func<int, AddedToken, bool> allowed, out int position, [MaybeNullWhen(false)] out AddedToken token)
    {
        for (int i = start; i < text.Length; i++)
        {
            if (!byFirstChar.TryGetValue(text[i], out var candidates)) continue;
            foreach (var candidate in candidates)
            {
                if (text.AsSpan(i).StartsWith(candidate.Content, StringComparison.Ordinal) && allowed(i, candidate))
                {
                    position = i;
                    token = candidate;
                    return true;
                }
            }
        }
        position = -1;
        token = null;
        return false;
    }
}
