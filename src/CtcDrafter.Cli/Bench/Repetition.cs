namespace CtcDrafter.Cli.Bench;

/// <summary>
/// How much of an output loops: a weak base model that answers "el tener el tener ..." hands any drafter easy
/// tokens and inflates tau, so the benchmark also reports the prompts whose output is fluent.
/// </summary>
static class Repetition
{
    /// <summary>A prompt is fluent when the repetition share of its vanilla output is below this.</summary>
    public const double FluentBelow = 0.20;

    /// <summary>
    /// The share of the generated tokens of all <paramref name="turns"/> of one prompt that complete a 4-gram seen
    /// before in that output. 4-grams are taken within each turn (none spans two turns): token i of a turn, i >= 3,
    /// repeats when the 4-gram ending at it also ends at an earlier position of this turn or of an earlier turn.
    /// The share is repeating tokens / all generated tokens; 0 for no tokens.
    /// </summary>
    public static double Share(IEnumerable<IReadOnlyList<int>> turns)
    {
        var seen = new HashSet<(int, int, int, int)>();
        int total = 0, repeating = 0;
        foreach (IReadOnlyList<int> t in turns)
        {
            total += t.Count;
            for (int i = 3; i < t.Count; i++)
                if (!seen.Add((t[i - 3], t[i - 2], t[i - 1], t[i]))) repeating++;
        }
        return total == 0 ? 0 : (double)repeating / total;
    }

    public static bool IsFluent(double share) => share < FluentBelow;
}
