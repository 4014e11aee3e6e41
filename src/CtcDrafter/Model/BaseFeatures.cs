namespace CtcDrafter.Model;

/// <summary>
/// Which states of the base model a drafter reads at each committed token. A source is either a layer index l, the
/// input of base layer l (the residual stream after layers 0 .. l - 1, before any norm: what EAGLE-3 reads from a low,
/// a middle and a high layer), or <see cref="Final"/>, the final hidden state after the last norm (what EAGLE-1,
/// CTC-drafter and Medusa read). A drafter receives its sources one after another in each token's row.
/// </summary>
public static class BaseFeatures
{
    /// <summary>The final post-norm hidden state.</summary>
    public const int Final = -1;

    /// <summary>The final hidden state alone: every drafter's features but EAGLE-3's.</summary>
    public static IReadOnlyList<int> FinalOnly { get; } = [Final];

    /// <summary>EAGLE-3's default choice for a base of <paramref name="layers"/> layers: the inputs of layers 2, L / 2 and L - 3.</summary>
    public static int[] Eagle3Default(int layers) => [2, layers / 2, layers - 3];

    /// <summary>Throws unless every source is <see cref="Final"/> or a layer of a model with <paramref name="layers"/> layers.</summary>
    internal static void Check(IReadOnlyList<int> sources, int layers)
    {
        if (sources.Count == 0) throw new ArgumentException("no base feature sources");
        foreach (int s in sources)
            if (s != Final && (uint)s >= (uint)layers) throw new ArgumentException($"base feature source {s}: the model has layers 0..{layers - 1}");
    }

    /// <summary>The sources every one of several drafters needs, each once, in a fixed order.</summary>
    internal static int[] Union(IEnumerable<IReadOnlyList<int>> sets) => [.. sets.SelectMany(s => s).Distinct().Order()];

    /// <summary>
    /// Where each of <paramref name="wanted"/>'s sources sits among <paramref name="kept"/>'s, or null when they are the
    /// same list (the rows pass as they are).
    /// </summary>
    internal static int[]? Selection(IReadOnlyList<int> kept, IReadOnlyList<int> wanted)
    {
        if (kept.SequenceEqual(wanted)) return null;
        return [.. wanted.Select(s => Position(kept, s) is int i and >= 0 ? i : throw new ArgumentException($"base feature source {s} is not kept"))];
    }

    /// <summary>
    /// The selected columns of <paramref name="rows"/> [n, kept * hidden] into <paramref name="output"/>
    /// [n, selection * hidden].
    /// </summary>
    internal static void Gather(ReadOnlySpan<float> rows, int kept, int[] selection, int hidden, Span<float> output)
    {
        int n = rows.Length / (kept * hidden), w = selection.Length * hidden;
        for (int r = 0; r < n; r++)
            for (int s = 0; s < selection.Length; s++)
                rows.Slice(r * kept * hidden + selection[s] * hidden, hidden).CopyTo(output.Slice(r * w + s * hidden, hidden));
    }

    static int Position(IReadOnlyList<int> list, int value)
    {
        for (int i = 0; i < list.Count; i++) if (list[i] == value) return i;
        return -1;
    }
}
