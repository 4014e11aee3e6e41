using System.Numerics.Tensors;

namespace CtcDrafter.Sampling;

/// <summary>
/// Turns logits into the sampling distribution (temperature, then top-k, then top-p, as Hugging Face applies
/// them) and draws from it. Speculative acceptance uses <see cref="Distribution"/> so that it samples from
/// exactly the distribution plain decoding samples from.
/// </summary>
internal sealed class Sampler
{
    public SamplingOptions Options { get; }
    readonly Rng _rng;
    int[] _order = [];

    public Sampler(SamplingOptions options)
    {
        options.Validate();
        Options = options;
        _rng = new Rng(options.Seed);
    }

    public int Next(ReadOnlySpan<float> logits, Span<float> scratch)
    {
        if (Options.IsGreedy) return Argmax(logits);
        Distribution(logits, scratch);
        return Draw(scratch[..logits.Length]);
    }

    /// <summary>First index of the maximum.</summary>
    public static int Argmax(ReadOnlySpan<float> logits) => TensorPrimitives.IndexOfMax(logits);

    /// <summary>probs = the distribution sampling draws from (zero outside the top-k / top-p set). Greedy: one-hot.</summary>
    public void Distribution(ReadOnlySpan<float> logits, Span<float> probs)
    {
        int n = logits.Length;
        probs = probs[..n];
        if (Options.IsGreedy)
        {
            probs.Clear();
            probs[Argmax(logits)] = 1f;
            return;
        }
        TensorPrimitives.Divide(logits, Options.Temperature, probs);
        Kernels.Activations.Softmax(probs); // TensorPrimitives.SoftMax overflows to NaN for logits above ~88
        if (Options.TopK <= 0 && Options.TopP >= 1f) return;

        if (_order.Length != n) _order = new int[n];
        for (int i = 0; i < n; i++) _order[i] = i;
        float[] keys = probs.ToArray();
        Array.Sort(keys, _order, Comparer<float>.Create((a, b) => b.CompareTo(a)));
        int keep = Options.TopK > 0 ? Math.Min(Options.TopK, n) : n;
        if (Options.TopP < 1f)
        {
            // Smallest prefix of the sorted (top-k) tokens whose mass reaches top_p, renormalised over top-k first.
            double total = 0, cum = 0;
            for (int i = 0; i < keep; i++) total += keys[i];
            int k = 0;
            while (k < keep && (k == 0 || cum < Options.TopP * total)) cum += keys[k++];
            keep = k;
        }
        double sum = 0;
        for (int i = 0; i < keep; i++) sum += keys[i];
        probs.Clear();
        for (int i = 0; i < keep; i++) probs[_order[i]] = (float)(keys[i] / sum);
    }

    /// <summary>Inverse-CDF draw from a normalised distribution.</summary>
    public int Draw(ReadOnlySpan<float> probs)
    {
        double u = _rng.NextDouble(), cum = 0;
        int last = -1;
        for (int i = 0; i < probs.Length; i++)
        {
            if (probs[i] <= 0) continue;
            cum += probs[i];
            last = i;
            if (u < cum) return i;
        }
        return last; // rounding left u above the total mass
    }
}
