using CtcDrafter.Sampling;

namespace CtcDrafter.Speculative;

/// <summary>The outcome of verifying a tree: the accepted root-to-node path (root first) and the bonus token.</summary>
internal readonly record struct Accepted(int[] Path, int Bonus);

/// <summary>
/// Chooses what to commit after the base model has scored every node of a tree. Both rules emit exactly what
/// plain decoding would: greedy the same tokens, sampling tokens with the same distribution.
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
    /// Sampling, walking down from the root with p = the sampling distribution at the current node:
    /// - children without draft probabilities: target-sample matching. Draw x from p; descend into the child
    ///   carrying x if there is one, else x is the bonus token. Every token is drawn from p itself, so the output
    ///   distribution is exactly plain sampling's, whatever the tree (CTC-collapsed trees included).
    /// - children with draft probabilities q (their tokens drawn from q): multi-candidate rejection sampling.
    ///   Accept child x with probability min(1, p(x)/q(x)); on rejection continue with the residual
    ///   p := normalise(max(p - q, 0)), which is exactly the part of p that q's proposals did not cover; if every
    ///   child is rejected, the bonus token is drawn from the final residual.
    /// </summary>
    public static Accepted Sample(DraftTree tree, ReadOnlySpan<float> logits, int vocab, Sampler sampler, float[] p)
    {
        int node = 0;
        while (true)
        {
            sampler.Distribution(logits.Slice(node * vocab, vocab), p);
            int[] children = [.. tree.Children(node)];
            int next = -1;
            if (children.Length > 0 && children.All(c => tree.Proposal(c) is not null))
            {
                foreach (int c in children)
                {
                    float[] q = tree.Proposal(c)!;
                    int x = tree.Token(c);
                    double accept = q[x] > 0 ? Math.Min(1.0, p[x] / q[x]) : 0;
                    if (sampler.Random.NextDouble() < accept) { next = c; break; }
                    Residual(p, q);
                }
                if (next < 0) return new Accepted(tree.PathTo(node), sampler.Draw(p.AsSpan(0, vocab)));
            }
            else
            {
                int x = sampler.Draw(p.AsSpan(0, vocab));
                foreach (int c in children)
                    if (tree.Token(c) == x) { next = c; break; }
                if (next < 0) return new Accepted(tree.PathTo(node), x);
            }
            node = next;
        }
    }

    /// <summary>p := max(p - q, 0) / sum; p is left unchanged if q covers it entirely (cannot happen after a rejection).</summary>
    static void Residual(float[] p, float[] q)
    {
        double sum = 0;
        for (int i = 0; i < q.Length; i++) sum += Math.Max(p[i] - q[i], 0f);
        if (sum <= 0) return;
        for (int i = 0; i < q.Length; i++) p[i] = (float)(Math.Max(p[i] - q[i], 0f) / sum);
    }
}
