using CtcDrafter.Kernels;
using CtcDrafter.Sampling;

namespace CtcDrafter.Generation;

/// <summary>A generated token's log-probability and the most likely alternatives at its position, most likely first.</summary>
public sealed record TokenLogprob(int Token, float Logprob, IReadOnlyList<(int Token, float Logprob)> Top);

/// <summary>
/// Collects <see cref="TokenLogprob"/>s: log-softmax of the logits row a token was chosen from, at the sampling
/// temperature (1 when greedy), before top-k/top-p. Since verification computes every row bitwise as plain
/// decoding does, these are bitwise the values plain decoding reports, whatever the drafter.
/// </summary>
internal sealed class TokenLogprobs(int top, SamplingOptions sampling)
{
    readonly List<TokenLogprob> _items = [];
    float[] _row = [];

    public IReadOnlyList<TokenLogprob> Items => _items;

    public void Add(int token, ReadOnlySpan<float> logits)
    {
        if (_row.Length != logits.Length) _row = new float[logits.Length];
        float temperature = sampling.IsGreedy ? 1f : sampling.Temperature;
        for (int i = 0; i < logits.Length; i++) _row[i] = logits[i] / temperature;
        float max = Reduce.Max(_row);
        for (int i = 0; i < _row.Length; i++) _row[i] -= max;
        float logSum = MathF.Log(SumExp(_row));
        var best = new List<(int, float)>(top);
        foreach (int i in TopIndices(_row, top)) best.Add((i, _row[i] - logSum));
        _items.Add(new TokenLogprob(token, _row[token] - logSum, best));
    }

    static float SumExp(float[] shifted)
    {
        var e = new float[shifted.Length];
        System.Numerics.Tensors.TensorPrimitives.Exp(shifted, e);
        return Reduce.Sum(e);
    }

    // The k largest entries, largest first (the lower index first on ties).
    static IEnumerable<int> TopIndices(float[] x, int k) =>
        Enumerable.Range(0, x.Length).OrderByDescending(i => x[i]).ThenBy(i => i).Take(k);
}
