using CtcDrafter.Sampling;

namespace CtcDrafter.Speculative;

/// <summary>The outcome of verifying a tree: the accepted root-to-node path (root first) and the bonus token.</summary>
internal readonly record struct Accepted(int[] Path, int Bonus);

/// <summary>
/// Chooses what to commit after the base model has scored every node of a tree. Both rules emit exactly what
/// plain decoding would: greedy the same tokens, sampling with a seed the same tokens as plain sampling with it.
/// </summary>
internal static class Acceptance
{
    /// <summary>
    /// Greedy: a draft node is accepted when its parent was and its token is the argmax of its parent's logits.
    /// The deepest accepted node wins (the first one in node order on ties); the bonus token is the argmax at it.
    /// </summary>
    public static Accepted Greedy(DraftTree tree, ReadOnlySpan<float> logits, int vocab)
    {
        int n = tree.Count, best = 0;
        Span<int> argmax = n <= 256 ? stackalloc int[n] : new int[n];
        Span<bool> ok = n <= 256 ? stackalloc bool[n] : new bool[n];
        argmax[0] = Sampler.Argmax(logits[..vocab]);
        ok[0] = true;
        for (int i = 1; i < n; i++)
        {
            argmax[i] = Sampler.Argmax(logits.Slice(i * vocab, vocab));
            int p = tree.Parent(i);
            ok[i] = ok[p] && tree.Token(i) == argmax[p];
            if (ok[i] && tree.Depth(i) > tree.Depth(best)) best = i;
        }
        return new Accepted(tree.PathTo(best), argmax[best]);
    }

    /// <summary>
    /// Sampling by target-sample matching, walking down from the root: at each node draw x from the sampling
    /// distribution p of that node's logits; descend into the child carrying x if there is one, else x is the bonus
    /// token. Every emitted token is one draw from the distribution plain sampling would draw it from, and the draws
    /// come from the random stream in the same order, one per emitted token, whatever the tree: with the same seed
    /// the output is token for token plain sampling's (the contract), for any drafter, tree size or CTC transform.
    /// </summary>
    public static Accepted Sample(DraftTree tree, ReadOnlySpan<float> logits, int vocab, Sampler sampler, float[] p)
    {
        int node = 0;
        while (true)
        {
            int x = sampler.Next(logits.Slice(node * vocab, vocab), p);
            int next = -1;
            foreach (int c in tree.Children(node))
                if (tree.Token(c) == x) { next = c; break; }
            if (next < 0) return new Accepted(tree.PathTo(node), x);
            node = next;
        }
    }
}
