namespace CtcDrafter.Speculative;

/// <summary>A collapsed CTC output (blanks and repeats removed) and the probability of the frame paths giving it.</summary>
public sealed record CtcPrefix(int[] Tokens, double Probability);

/// <summary>
/// Candidates from a non-autoregressive CTC draft: a prefix beam search over its F frames, then a prefix tree
/// of the best outputs cut to a node budget. Frames are distributions over V + 1 symbols, the V tokens and the
/// blank; a frame path collapses by merging runs of one symbol, then dropping blanks ("a a _ a" -> "a a").
/// </summary>
public static class CtcPrefixBeamSearch
{
    /// <summary>
    /// The CTC prefix beam search (Graves 2012; Hannun et al. 2014). Every prefix in the beam carries two masses
    /// over the frames read so far: pBlank, of the paths collapsing to it and ending in a blank, and pSymbol, of
    /// those ending in its last token. A frame's symbol s with probability q takes a prefix l to
    /// <list type="bullet">
    /// <item>blank: l, pBlank += (pBlank + pSymbol) * q;</item>
    /// <item>s equal to l's last token: l + s from l's pBlank only (a blank separated the two), and l itself from
    /// its pSymbol (the repeat merges into the run);</item>
    /// <item>any other s: l + s from both masses.</item>
    /// </list>
    /// Paths reaching the same prefix are summed, and after each frame the <paramref name="beamWidth"/> prefixes
    /// of largest pBlank + pSymbol are kept. Only a frame's <paramref name="topK"/> most likely symbols are read,
    /// so a frame costs O(beam * k) extensions plus sorting them. With a beam holding every prefix and
    /// k = V + 1 the result is exact: the total probability of each collapsed output over all frame paths.
    /// Probabilities are plain doubles, not logs: F is small (r * K, about 8 to 16 frames) and a product of F
    /// probabilities stays far above double's underflow. The first frame is the token after the draft's root,
    /// so nothing before it can repeat-merge with it.
    /// </summary>
    /// <param name="frames">F frames; frame t lists symbols (tokens in [0, blank), the blank as
    /// <paramref name="blank"/>) with their probabilities, in any order, each symbol at most once.</param>
    /// <param name="blank">The blank's index, V.</param>
    /// <returns>At most <paramref name="beamWidth"/> prefixes (length 0 to F, the empty one when all frames may
    /// be blank) with probability pBlank + pSymbol above zero, best first (ties: the earlier found first).</returns>
    public static IReadOnlyList<CtcPrefix> Search(IReadOnlyList<DepthDistribution> frames, int blank, int beamWidth, int topK)
    {
        ArgumentNullException.ThrowIfNull(frames);
        ArgumentOutOfRangeException.ThrowIfNegative(blank);
        ArgumentOutOfRangeException.ThrowIfLessThan(beamWidth, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);

        // Prefixes as a trie: prefix i is prefix parents[i] followed by lasts[i]; 0 is the empty prefix.
        var parents = new List<int> { -1 };
        var lasts = new List<int> { -1 };
        var ids = new Dictionary<(int Parent, int Token), int>();
        int Extend(int prefix, int token)
        {
            if (!ids.TryGetValue((prefix, token), out int id))
            {
                ids[(prefix, token)] = id = parents.Count;
                parents.Add(prefix);
                lasts.Add(token);
            }
            return id;
        }

        var beam = new Dictionary<int, (double Blank, double Symbol)> { [0] = (1, 0) };
        for (int t = 0; t < frames.Count; t++)
        {
            var symbols = TopSymbols(frames[t], t, blank, topK);
            var next = new Dictionary<int, (double Blank, double Symbol)>();
            void AddMass(int prefix, double toBlank, double toSymbol)
            {
                next.TryGetValue(prefix, out var m);
                next[prefix] = (m.Blank + toBlank, m.Symbol + toSymbol);
            }
            foreach (var (prefix, (pBlank, pSymbol)) in beam)
                foreach (var (s, q) in symbols)
                {
                    if (s == blank) AddMass(prefix, (pBlank + pSymbol) * q, 0);
                    else if (s == lasts[prefix])
                    {
                        AddMass(Extend(prefix, s), 0, pBlank * q);
                        AddMass(prefix, 0, pSymbol * q);
                    }
                    else AddMass(Extend(prefix, s), 0, (pBlank + pSymbol) * q);
                }
            beam = next.Where(e => e.Value.Blank + e.Value.Symbol > 0)
                .OrderByDescending(e => e.Value.Blank + e.Value.Symbol).ThenBy(e => e.Key)
                .Take(beamWidth).ToDictionary();
        }

        return beam.OrderByDescending(e => e.Value.Blank + e.Value.Symbol).ThenBy(e => e.Key)
            .Select(e => new CtcPrefix(TokensOf(e.Key), e.Value.Blank + e.Value.Symbol)).ToList();

        int[] TokensOf(int prefix)
        {
            var tokens = new List<int>();
            for (int p = prefix; p > 0; p = parents[p]) tokens.Add(lasts[p]);
            tokens.Reverse();
            return [.. tokens];
        }
    }

    /// <summary>
    /// The prefixes merged into one tree under <paramref name="root"/> (node 0), cut to
    /// <paramref name="maxNodes"/> nodes including the root (the root always). A node stands for a token sequence;
    /// its score is the largest probability of the prefixes passing through it, and nodes are taken best-first
    /// (ties: the earlier listed prefix first, then the shallower node), so a parent always comes before its
    /// child. A prefix's first token hangs under the root even when equal to it: the first frame predicts the
    /// token after the root, not the root again. Taking nodes so is the same as inserting the prefixes
    /// whole, best first, until the budget is spent, the last one cut short: every prefix that fits is verified
    /// whole, the best one as soon as the budget holds its length + 1 nodes. A sum over the prefixes would score
    /// a node by the draft's chance that its output starts there, but a stem shared by many weak prefixes would
    /// then crowd out the tail of the best one. Siblings carry distinct tokens (prefixes sharing a start share
    /// its nodes): sampling verification descends only into the first child carrying a token, and greedy
    /// verification accepts both, so a duplicate sibling would only take a slot.
    /// The prefixes are already collapsed, so the tree is verified as it is (no <see cref="TreeTransform"/>
    /// collapse: a repeat in it is a genuine doubled token).
    /// </summary>
    public static DraftTree Tree(int root, IReadOnlyList<CtcPrefix> prefixes, int maxNodes)
    {
        ArgumentNullException.ThrowIfNull(prefixes);
        var tree = new DraftTree(root);
        var children = new Dictionary<(int Parent, int Token), int>();
        foreach (var prefix in prefixes.OrderByDescending(p => p.Probability))
        {
            int node = 0;
            foreach (int token in prefix.Tokens)
            {
                if (!children.TryGetValue((node, token), out int child))
                {
                    if (tree.Count >= maxNodes) return tree;
                    children[(node, token)] = child = tree.Add(node, token);
                }
                node = child;
            }
        }
        return tree;
    }

    /// <summary>The <paramref name="k"/> most likely symbols of frame <paramref name="t"/>, checked.</summary>
    static (int Symbol, double Prob)[] TopSymbols(DepthDistribution frame, int t, int blank, int k)
    {
        if (frame is null) throw new ArgumentNullException("frames", $"frame {t} is null");
        if (frame.Tokens.Length != frame.Probs.Length)
            throw new ArgumentException($"frame {t} has {frame.Tokens.Length} symbols but {frame.Probs.Length} probabilities", "frames");
        var seen = new HashSet<int>();
        for (int i = 0; i < frame.Tokens.Length; i++)
        {
            int s = frame.Tokens[i];
            if ((uint)s > (uint)blank) throw new ArgumentException($"frame {t} has symbol {s} outside 0..{blank} (blank {blank})", "frames");
            if (!seen.Add(s)) throw new ArgumentException($"frame {t} lists symbol {s} twice", "frames");
            if (!(frame.Probs[i] >= 0)) throw new ArgumentException($"frame {t} has probability {frame.Probs[i]} for symbol {s}", "frames");
        }
        return frame.Tokens.Select((s, i) => (s, (double)frame.Probs[i]))
            .OrderByDescending(e => e.Item2).Take(k).ToArray();
    }
}
