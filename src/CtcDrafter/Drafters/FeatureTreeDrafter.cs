using System.Numerics.Tensors;
using CtcDrafter.Model;
using CtcDrafter.Speculative;

namespace CtcDrafter.Drafters;

/// <summary>
/// The CTC-drafter / EAGLE / EAGLE-3 drafter (docs METHOD.md sections 2 and 4). The committed pairs (base state at j,
/// x_{j+1}) are the draft layer's context (<see cref="DraftLayerContext"/>); each step grows the draft's own tree from the root in
/// pending KV slots (discarded afterwards): depth 1 from (h_last, root), and under each expanded node the draft's
/// distribution given that node's own path (its parent's output feature and its token). The best-scoring nodes
/// fill the step's node budget; a CTC draft's tree then goes through the lossless CTC transform
/// (<see cref="Transform"/>), a step of the decode loop. <see cref="Chain"/> is the greedy chain alone, as training evaluates it.
/// </summary>
internal sealed class FeatureTreeDrafter : IDrafter
{

    readonly DraftModule _d;
    readonly DraftLayerContext _context;
    readonly Transformer _layer;
    readonly int _depth, _topK, _hidden, _vocab;
    readonly float _scoreTemperature; // the tree's scores only: the tokens, and the parity with training, are unchanged
    readonly int? _blank;
    readonly CtcTransform _transform;

    public TreeTransform Transform { get; }
    readonly float[] _logits;   // [vocab + 1]
    readonly float[] _features; // [pending slots, hidden] draft output feature of each node grown this step
    readonly float[] _headOut;  // [rows, vocab] LM-head logits of one level

    /// <param name="transform">What a CTC draft's tree goes through (an EAGLE draft has no blank and no transform).</param>
    public FeatureTreeDrafter(DraftModule module, int depth = 8, int topK = 8, CtcTransform transform = CtcTransform.KeepRepeats)
    {
        _d = module;
        _transform = module.Config.BlankId is null ? CtcTransform.None : transform;
        Transform = TreeTransform.Ctc(_transform, module.Config.BlankId);
        (_depth, _topK, _hidden, _vocab, _blank) = (depth, topK, module.Config.HiddenSize, module.Config.VocabSize, module.Config.BlankId);
        _scoreTemperature = module.Config.ScoreTemperature ?? module.Config.DefaultScoreTemperature;
        _context = DraftLayerContext.For(module, 1 + depth * topK);
        _layer = _context.Layer;
        _logits = new float[_vocab + 1];
        _features = new float[_layer.MaxTokens * _hidden];
        _headOut = new float[_layer.MaxTokens * _vocab];
    }

    public string Name => _d.Config.Kind != DraftKind.Ctc ? _d.Config.Kind.Name() : _transform switch
    {
        CtcTransform.Strict => "ctc-strict",
        CtcTransform.None => "ctc-nocollapse",
        _ => "ctc",
    };

    public IDrafter Spawn() => new FeatureTreeDrafter(_d, _depth, _topK, _transform);

    public IReadOnlyList<int> Features => _d.Config.Kind.IsEagle3() ? _d.Config.FeatureLayers : BaseFeatures.FinalOnly;

    public void Reset() => _context.Reset();

    public void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden) => _context.Observe(tokens, hidden);

    public DraftTree Propose(int root, int maxNodes)
    {
        if (!_context.HasPending || maxNodes <= 1) return new DraftTree(root);
        int depth = Math.Min(_depth, maxNodes - 1);
        int width = Math.Clamp((maxNodes + depth - 2) / depth, 1, _topK); // nodes expanded per level
        if (_layer.Cache.Length + 1 + (depth - 1) * width > _layer.Cache.Capacity) return new DraftTree(root);
        // Only the strict transform reads blanks (it removes them with the repeats); otherwise the tree skips them.
        int? skip = _transform == CtcTransform.Strict ? null : _blank;
        return Best(root, Grow(root, depth, width, maxNodes - 1, skip), maxNodes, skip);
    }

    /// <summary>
    /// A draft token proposed under candidate <paramref name="Parent"/> (-1: under the root) with score
    /// p(path) = the product of the draft probabilities along it; <paramref name="Slot"/> is the pending draft
    /// slot whose output proposed it.
    /// </summary>
    readonly record struct Candidate(int Parent, int Token, float Score, int Depth, int Slot);

    /// <summary>
    /// Grows the draft's own tree for this step, level by level (as EAGLE-2 does): the root pair gives the depth-1
    /// top-k; at each depth the <paramref name="width"/> best-scoring real tokens are run through the draft layer
    /// together (pending KV slots, tree attention), each from its parent's output feature, and their top-k become
    /// the next level's candidates. Every node's children thus come from a distribution conditioned on its own path.
    /// A candidate scoring below the <paramref name="keep"/>-th best so far (<paramref name="skip"/> not counted)
    /// is not expanded: neither it nor anything under it can make the tree, so the pruning changes nothing but time.
    /// </summary>
    List<Candidate> Grow(int root, int depth, int width, int keep, int? skip)
    {
        int L = _layer.Cache.Length, H = _hidden;
        var all = new List<Candidate>();
        _context.Root(root, 0);
        RunPending(1, [L], [-1], pendingOffset: 0);
        var frontier = new List<(int Candidate, int Slot)> { (-1, 0) };
        for (int d = 1, used = 1; ; d++)
        {
            int first = all.Count;
            _context.Logits(_features.AsSpan(frontier[0].Slot * H, frontier.Count * H), _headOut, frontier.Count);
            for (int r = 0; r < frontier.Count; r++)
            {
                (int parent, int slot) = frontier[r];
                DepthDistribution dist = Distribution(_headOut.AsSpan(r * _vocab, _vocab), _features.AsSpan(slot * H, H), _topK, _scoreTemperature);
                float score = parent < 0 ? 1f : all[parent].Score;
                for (int c = 0; c < dist.Tokens.Length; c++) all.Add(new(parent, dist.Tokens[c], score * dist.Probs[c], d, slot));
            }
            if (d == depth) return all;

            float[] kept = all.Where(c => c.Token != skip).Select(c => c.Score).OrderDescending().Take(keep).ToArray();
            float cut = kept.Length < keep ? 0f : kept[^1];
            int[] expand = Enumerable.Range(first, all.Count - first).Where(i => all[i].Token != _blank && all[i].Score >= cut)
                .OrderByDescending(i => all[i].Score).Take(width).ToArray();
            if (expand.Length == 0) return all;
            for (int k = 0; k < expand.Length; k++) _context.Child(all[expand[k]].Token, _features.AsSpan(all[expand[k]].Slot * H, H), k);
            RunPending(expand.Length, Enumerable.Repeat(L + d, expand.Length).ToArray(),
                expand.Select(i => all[i].Slot).ToArray(), used);
            frontier = expand.Select((c, k) => (c, used + k)).ToList();
            used += expand.Length;
        }
    }

    /// <summary>The draft layer over <paramref name="rows"/> pairs as pending slots; their output features are kept.</summary>
    void RunPending(int rows, int[] positions, int[] parents, int pendingOffset)
    {
        _context.Run(rows, positions, parents, pendingOffset);
        _layer.Hidden(rows).CopyTo(_features.AsSpan(pendingOffset * _hidden));
    }

    /// <summary>
    /// The <paramref name="maxNodes"/> - 1 best-scoring candidates as a tree (a path scores no higher than its
    /// prefix, so taking them best-first keeps every parent), leaving out <paramref name="skip"/>.
    /// </summary>
    static DraftTree Best(int root, List<Candidate> all, int maxNodes, int? skip = null)
    {
        var tree = new DraftTree(root);
        var node = new int[all.Count];
        Array.Fill(node, -1);
        foreach (int i in Enumerable.Range(0, all.Count).OrderByDescending(i => all[i].Score).ThenBy(i => all[i].Depth))
        {
            if (tree.Count >= maxNodes) break;
            int parent = all[i].Parent < 0 ? 0 : node[all[i].Parent];
            if (parent < 0 || all[i].Token == skip) continue;
            node[i] = tree.Add(parent, all[i].Token);
        }
        return tree;
    }

    /// <summary>
    /// The chain's top-<paramref name="topK"/> distributions at depths 1..<paramref name="depth"/> under
    /// <paramref name="root"/> (a <paramref name="topK"/> of all classes gives the whole distributions, as tests compare them).
    /// </summary>
    internal List<DepthDistribution> Chain(int root, int depth, int topK)
    {
        int L = _layer.Cache.Length, H = _hidden;
        var dists = new List<DepthDistribution>(depth);
        int token = root;
        var f = new float[H];
        for (int d = 0; d < depth; d++)
        {
            if (d == 0) _context.Root(token, 0);
            else _context.Child(token, f, 0);
            _context.Run(1, [L + d], [-1], 0);
            _layer.Cache.Advance(1); // scratch: the chain's later steps attend to it; truncated below
            _layer.Hidden(1).CopyTo(f);
            DepthDistribution dist = Distribution(f, topK);
            dists.Add(dist);
            token = dist.Tokens.First(t => t != _blank); // the chain continues with a real token
        }
        _layer.Cache.Truncate(L);
        return dists;
    }

    /// <summary>Draft logits through the draft's head (plus the blank row), softmax, top-k.</summary>
    DepthDistribution Distribution(float[] feature, int topK)
    {
        _context.Logits(feature, _headOut, 1);
        return Distribution(_headOut.AsSpan(0, _vocab), feature, topK);
    }

    /// <summary>
    /// Softmax (at <paramref name="temperature"/>) and top-k of one row's LM-head logits, with the blank's logit
    /// appended for a ctc draft.
    /// </summary>
    DepthDistribution Distribution(ReadOnlySpan<float> headLogits, ReadOnlySpan<float> feature, int topK, float temperature = 1f)
    {
        headLogits.CopyTo(_logits);
        int n = _vocab;
        if (_context.HasOwnBlank) _logits[n++] = _context.BlankLogit(feature);
        if (temperature != 1f) TensorPrimitives.Divide(_logits.AsSpan(0, n), temperature, _logits.AsSpan(0, n));
        return DepthDistribution.TopK(_logits.AsSpan(0, n), topK);
    }
}
