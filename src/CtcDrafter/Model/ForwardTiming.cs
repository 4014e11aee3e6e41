using System.Diagnostics;

namespace CtcDrafter.Model;

/// <summary>Timing of forward passes of T new tokens at the current committed length, never committed.</summary>
internal static class ForwardTiming
{
    /// <summary>
    /// Median wall time in ms over <paramref name="repeats"/> runs after two warm-ups. The tokens form a binary
    /// tree (a verification tree; every node's logits computed) or a causal chain with one logits row (a prefill).
    /// </summary>
    public static double MedianMs(Transformer t, int tokens, int repeats, bool tree, float[] logits) =>
        Median(Rounds(t, [tokens], repeats, tree, logits)[tokens]);

    /// <summary>
    /// Wall times in ms [size][round] of forwards of every size in <paramref name="sizes"/>, interleaved: after two
    /// warm-up rounds, each of <paramref name="repeats"/> rounds times every size once, so that a slow drift of the
    /// machine's speed weighs on all sizes alike and a ratio of two sizes compares times taken side by side.
    /// </summary>
    public static Dictionary<int, double[]> Rounds(Transformer t, IReadOnlyList<int> sizes, int repeats, bool tree, float[] logits)
    {
        var forwards = sizes.Distinct().ToDictionary(T => T, T => new TimedForward(t, T, tree));
        var times = forwards.Keys.ToDictionary(T => T, _ => new double[Math.Max(1, repeats)]);
        for (int r = -2; r < Math.Max(1, repeats); r++)
            foreach (var (T, forward) in forwards)
            {
                double ms = forward.Run(logits);
                if (r >= 0) times[T][r] = ms;
            }
        return times;
    }

    /// <summary>The median of <paramref name="values"/>.</summary>
    public static double Median(IEnumerable<double> values)
    {
        double[] sorted = values.Order().ToArray();
        return sorted[sorted.Length / 2];
    }

    /// <summary>The median over rounds of times[T][r] / times[1][r]: the cost of T tokens relative to one, measured side by side.</summary>
    public static double MedianRatio(Dictionary<int, double[]> times, int T) =>
        Median(times[T].Zip(times[1], (a, b) => a / b));

    /// <summary>One forward's inputs: T tokens as a binary tree (every row's logits) or a causal chain (the last row's).</summary>
    sealed class TimedForward
    {
        readonly Transformer _t;
        readonly int[] _ids, _positions, _parents, _rows;

        public TimedForward(Transformer t, int tokens, bool tree)
        {
            int V = t.Config.VocabSize;
            _t = t;
            _ids = Enumerable.Range(0, tokens).Select(i => (i * 7919 + 3) % V).ToArray();
            _parents = Enumerable.Range(0, tokens).Select(i => tree ? (i == 0 ? -1 : (i - 1) / 2) : i - 1).ToArray();
            _positions = new int[tokens];
            for (int i = 1; i < tokens; i++) _positions[i] = _positions[_parents[i]] + 1;
            for (int i = 0; i < tokens; i++) _positions[i] += t.Cache.Length;
            _rows = tree ? Enumerable.Range(0, tokens).ToArray() : [tokens - 1];
        }

        public double Run(float[] logits)
        {
            long start = Stopwatch.GetTimestamp();
            _t.Forward(_ids, _positions, _parents, _rows, logits.AsSpan(0, _rows.Length * _t.Config.VocabSize));
            return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
    }
}
