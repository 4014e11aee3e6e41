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

    /// <summary>This distribution with <paramref name="token"/> left out (the rest keep their probabilities).</summary>
    public DepthDistribution Without(int token)
    {
        int i = Array.IndexOf(Tokens, token);
        return i < 0 ? this : new DepthDistribution([.. Tokens[..i], .. Tokens[(i + 1)..]], [.. Probs[..i], .. Probs[(i + 1)..]]);
    }
}

/// <summary>
/// Dynamic trees from per-depth draft distributions: the node for choice c at depth d scores
/// score(parent) * p_d(c), and the highest-scoring nodes are taken best-first until the budget is spent, so the
/// tree grows where the draft is confident (deep chains) and widens where it hesitates. As in Medusa, a node's
/// token depends on its depth and choice, not on its parent's token.
/// </summary>
public static class TopKTree
{
    public static DraftTree Build(int root, IReadOnlyList<DepthDistribution> depths, int maxNodes)
    {
        var tree = new DraftTree(root);
        if (depths.Count == 0 || maxNodes <= 1) return tree;
        var queue = new PriorityQueue<(int Parent, int Depth, int Choice, float Score), float>();
        void PushChildren(int parent, int depth, float score)
        {
            if (depth > depths.Count) return;
            DepthDistribution d = depths[depth - 1];
            for (int c = 0; c < d.Tokens.Length; c++)
                queue.Enqueue((parent, depth, c, score * d.Probs[c]), -score * d.Probs[c]);
        }
        PushChildren(0, 1, 1f);
        while (tree.Count < maxNodes && queue.TryDequeue(out var n, out _))
        {
            int node = tree.Add(n.Parent, depths[n.Depth - 1].Tokens[n.Choice]);
            PushChildren(node, n.Depth + 1, n.Score);
        }
        return tree;
    }
}
