namespace CtcDrafter.Speculative;

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
