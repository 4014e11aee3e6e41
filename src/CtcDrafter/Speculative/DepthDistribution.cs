namespace CtcDrafter.Speculative;

/// <summary>The k most likely tokens of a draft distribution at one depth, most likely first.</summary>
public sealed record DepthDistribution(int[] Tokens, float[] Probs)
{
    /// <summary>Softmax of <paramref name="logits"/> (in place) and its top <paramref name="k"/>.</summary>
    public static DepthDistribution TopK(Span<float> logits, int k)
    {
        Kernels.Activations.Softmax(logits); // TensorPrimitives.SoftMax overflows to NaN for logits above ~88
        k = Math.Min(k, logits.Length);
        var tokens = new int[k];
        var probs = new float[k];
        int n = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float p = logits[i];
            if (n == k && p <= probs[k - 1]) continue;
            int j = n < k ? n++ : k - 1;
            while (j > 0 && probs[j - 1] < p) { probs[j] = probs[j - 1]; tokens[j] = tokens[j - 1]; j--; }
            probs[j] = p;
            tokens[j] = i;
        }
        return new DepthDistribution(tokens, probs);
    }
}
