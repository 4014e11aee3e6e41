using System.Diagnostics;

namespace CtcDrafter.Model;

/// <summary>Timing of one forward pass of T new tokens at the current committed length, never committed.</summary>
internal static class ForwardTiming
{
    /// <summary>
    /// Median wall time in ms over <paramref name="repeats"/> runs after two warm-ups. The tokens form a binary
    /// tree (a verification tree; every node's logits computed) or a causal chain with one logits row (a prefill).
    /// </summary>
    public static double MedianMs(Transformer t, int tokens, int repeats, bool tree, float[] logits)
    {
        int V = t.Config.VocabSize;
        int[] ids = Enumerable.Range(0, tokens).Select(i => (i * 7919 + 3) % V).ToArray();
        int[] parents = Enumerable.Range(0, tokens).Select(i => tree ? (i == 0 ? -1 : (i - 1) / 2) : i - 1).ToArray();
        int[] positions = new int[tokens];
        for (int i = 1; i < tokens; i++) positions[i] = positions[parents[i]] + 1;
        for (int i = 0; i < tokens; i++) positions[i] += t.Cache.Length;
        int[] rows = tree ? Enumerable.Range(0, tokens).ToArray() : [tokens - 1];
        var times = new double[Math.Max(1, repeats)];
        for (int r = -2; r < times.Length; r++)
        {
            long start = Stopwatch.GetTimestamp();
            t.Forward(ids, positions, parents, rows, logits.AsSpan(0, rows.Length * V));
            if (r >= 0) times[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(times);
        return times[times.Length / 2];
    }
}
