using CtcDrafter.Model;

namespace CtcDrafter.Speculative;

/// <summary>
/// The measured cost of verifying T tree tokens in one forward pass, relative to one token: cost(1) = 1.
/// On a CPU it stays near 1 only while the pass is memory-bound (T up to about 4-8 here) and then grows almost
/// linearly, so the tree budget must come from this curve rather than from a GPU paper.
/// </summary>
public sealed class VerifyCostCurve
{
    readonly double[] _cost; // [maxT + 1], _cost[0] unused

    /// <param name="forwardMs">Measured time of one single-token forward, the unit of the curve (0 when unknown).</param>
    public VerifyCostCurve(double[] costByT, double forwardMs = 0)
    {
        if (costByT.Length < 2) throw new ArgumentException("need at least cost(1)");
        _cost = costByT;
        ForwardMs = forwardMs;
    }

    /// <summary>Milliseconds of one single-token forward when the curve was measured.</summary>
    public double ForwardMs { get; }

    public int MaxT => _cost.Length - 1;

    /// <summary>cost(T) / cost(1); beyond the measured range extrapolated linearly.</summary>
    public double Cost(int tokens)
    {
        if (tokens <= 1) return 1;
        if (tokens <= MaxT) return _cost[tokens];
        return _cost[MaxT] * tokens / MaxT;
    }

    /// <summary>
    /// Times forwards of T = 1, 2, 4, ..., maxT tree tokens over a short committed context in interleaved rounds
    /// (each cost the median of <paramref name="repeats"/> per-round ratios to T = 1) and interpolates between the measured sizes.
    /// </summary>
    public static VerifyCostCurve Measure(LlamaModel model, int maxT = 32, int repeats = 5, int context = 32)
    {
        var t = model.NewTransformer(Math.Max(maxT, context));
        context = Math.Min(context, t.Cache.Capacity - maxT - 1);
        var logits = new float[maxT * model.Config.VocabSize];
        t.Prefill(Enumerable.Range(0, Math.Max(1, context)).Select(i => i % model.Config.VocabSize).ToArray(), logits.AsSpan(0, model.Config.VocabSize));
        var sizes = new List<int>();
        for (int s = 1; s <= maxT; s *= 2) sizes.Add(s);
        var times = ForwardTiming.Rounds(t, sizes, repeats, tree: true, logits);
        var ratio = sizes.ToDictionary(T => T, T => ForwardTiming.MedianRatio(times, T));
        var cost = new double[sizes[^1] + 1];
        for (int T = 1; T < cost.Length; T++)
        {
            int lo = sizes.Last(s => s <= T), hi = sizes.First(s => s >= T);
            double m = lo == hi ? ratio[lo] : ratio[lo] + (ratio[hi] - ratio[lo]) * (T - lo) / (hi - lo);
            cost[T] = Math.Max(1, m);
        }
        return new VerifyCostCurve(cost, ForwardTiming.Median(times[1]));
    }
}
