using System.Numerics.Tensors;
using CtcDrafter.Model;
using CtcDrafter.Speculative;

namespace CtcDrafter.Drafters;

/// <summary>
/// The CTC-drafter / EAGLE drafter (docs METHOD.md sections 2 and 4). Draft position j consumes the pair
/// (h_j, x_{j+1}): the base model's final hidden state at j and the next token. Committed pairs go through the
/// draft layer once and stay in its own KV cache; each step then runs a greedy chain from the root in scratch
/// KV slots (discarded afterwards): depth 1 from (h_last, root), depth d + 1 from the draft's own output feature
/// and its most likely token at depth d. The per-depth top-k distributions fill a dynamic tree under the step's
/// node budget; for the CTC drafter the tree then goes through the lossless CTC transform (<see cref="DraftTree.Collapse"/>).
/// </summary>
internal sealed class FeatureChainDrafter : IDrafter
{
    readonly DraftModule _d;
    readonly Transformer _layer;
    readonly int _depth, _topK, _hidden, _vocab;
    readonly int? _blank;
    readonly bool _collapse;
    readonly float[] _pending;  // [hidden] base feature at the last committed token
    bool _hasPending;
    readonly float[] _pairs;    // [maxT, 2 * hidden] (embedding; feature)
    readonly float[] _z;        // [maxT, hidden] fc output
    readonly float[] _logits;   // [vocab + 1]

    /// <param name="collapse">
    /// Apply the CTC transform to a CTC draft's tree (default); false drops the blank from each depth's
    /// distribution and keeps repeats, the ablation that shows what the transform adds.
    /// </param>
    public FeatureChainDrafter(DraftModule module, int depth = 5, int topK = 8, bool collapse = true)
    {
        _d = module;
        _collapse = collapse;
        (_depth, _topK, _hidden, _vocab, _blank) = (depth, topK, module.Config.HiddenSize, module.Config.VocabSize, module.Config.BlankId);
        ModelConfig lc = module.Config.LayerConfig(module.Base.Config);
        _layer = new Transformer(new DecoderStack(null, [module.Layer!], null, null), lc, module.Base.ContextLength + depth + 1);
        _pending = new float[_hidden];
        _pairs = new float[_layer.MaxTokens * 2 * _hidden];
        _z = new float[_layer.MaxTokens * _hidden];
        _logits = new float[_vocab + 1];
    }

    public string Name => _d.Config.Kind != DraftKind.Ctc ? "eagle" : _collapse ? "ctc" : "ctc-nocollapse";

    public void Reset()
    {
        _layer.Cache.Truncate(0);
        _hasPending = false;
    }

    public void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden)
    {
        int H = _hidden, n = tokens.Length, pairs = 0;
        for (int i = 0; i < n; i++)
        {
            // Pair (feature before token i, token i); the very first token of a sequence has no feature before it.
            ReadOnlySpan<float> before = i == 0 ? _pending : hidden.Slice((i - 1) * H, H);
            if (i == 0 && !_hasPending) continue;
            Pair(tokens[i], before, pairs++);
            if (pairs == _layer.MaxTokens) { RunCommitted(pairs); pairs = 0; }
        }
        if (pairs > 0) RunCommitted(pairs);
        hidden.Slice((n - 1) * H, H).CopyTo(_pending);
        _hasPending = true;
    }

    /// <summary>Writes fc([embed(token); feature]) + bias into row <paramref name="row"/> of _z.</summary>
    void Pair(int token, ReadOnlySpan<float> feature, int row)
    {
        int H = _hidden;
        Span<float> p = _pairs.AsSpan(row * 2 * H, 2 * H);
        _d.Base.Weights.Embedding.ReadRow(token, p[..H]);
        feature.CopyTo(p[H..]);
    }

    void Fc(int rows)
    {
        int H = _hidden;
        _d.Fc!.MatMul(_pairs.AsSpan(0, rows * 2 * H), _z, rows);
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(_z.AsSpan(r * H, H), _d.FcBias, _z.AsSpan(r * H, H));
    }

    void RunCommitted(int rows)
    {
        Fc(rows);
        int L = _layer.Cache.Length;
        _layer.ForwardVectors(_z.AsSpan(0, rows * _hidden), Enumerable.Range(L, rows).ToArray(), Enumerable.Range(-1, rows).ToArray(), [], []);
        _layer.Cache.Advance(rows);
    }

    public DraftTree Propose(int root, int maxNodes)
    {
        if (!_hasPending || maxNodes <= 1) return new DraftTree(root);
        int depth = Math.Min(_depth, maxNodes - 1);
        if (_layer.Cache.Length + depth > _layer.Cache.Capacity) return new DraftTree(root);
        var dists = Chain(root, depth, _topK);
        if (_blank is null) return TopKTree.Build(root, dists, maxNodes);
        if (!_collapse) return TopKTree.Build(root, dists.Select(d => d.Without(_blank.Value)).ToList(), maxNodes);
        // Collapsing removes repeats and blanks: fill twice the budget, collapse, keep the best-scoring nodes.
        return TopKTree.Build(root, dists, 2 * maxNodes).Collapse(_blank).Take(maxNodes);
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
        ReadOnlySpan<float> feature = _pending;
        var f = new float[H];
        for (int d = 0; d < depth; d++)
        {
            Pair(token, feature, 0);
            Fc(1);
            _layer.ForwardVectors(_z.AsSpan(0, H), [L + d], [-1], [], []);
            _layer.Cache.Advance(1); // scratch: the chain's later steps attend to it; truncated below
            _layer.Hidden(1).CopyTo(f);
            DepthDistribution dist = Distribution(f, topK);
            dists.Add(dist);
            token = dist.Tokens.First(t => t != _blank); // the chain continues with a real token
            feature = f;
        }
        _layer.Cache.Truncate(L);
        return dists;
    }

    /// <summary>Draft logits through the base's frozen LM head (plus the blank row), softmax, top-k.</summary>
    DepthDistribution Distribution(float[] feature, int topK)
    {
        _d.LmHead.MatMul(feature, _logits, 1);
        int n = _vocab;
        if (_d.BlankRow is not null) _logits[n++] = TensorPrimitives.Dot(_d.BlankRow, feature);
        return DepthDistribution.TopK(_logits.AsSpan(0, n), topK);
    }
}
