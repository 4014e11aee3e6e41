using System.Numerics.Tensors;
using CtcDrafter.Model;
using CtcDrafter.Speculative;

namespace CtcDrafter.Drafters;

/// <summary>
/// The non-autoregressive CTC drafter (docs METHOD.md section 8). The committed pairs are the draft layer's context
/// (<see cref="PairContext"/>). A step runs, in one pass of the draft layer, the root pair (h_last, root) and F
/// query frames: frame f's input is the root pair's fc output plus the learned frame embedding E[f], at position
/// L + 1 + f, and it attends to the committed pairs, the root pair and the frames before it. The frozen LM head
/// plus the draft's blank row give F distributions over the vocabulary and the blank; CTC prefix beam search turns
/// them into collapsed candidate continuations, whose prefix tree, cut best-first to the step's budget, is verified
/// as it is (the labels are already collapsed: no transform). The ablation "ctc-nar-topk" instead grows a tree with
/// one level per frame from each frame's top symbols (blanks included), best-first by the product of their
/// probabilities, and lets the lossless CTC transform collapse it.
/// </summary>
internal sealed class CtcNarDrafter : IDrafter
{
    readonly FeatureLayerDraft _d;
    readonly float[] _frameEmbeddings, _blankRow; // [frames, hidden], [hidden]
    readonly PairContext _context;
    readonly int _frames, _hidden, _vocab, _beamWidth, _perFrame;
    readonly bool _beamSearch;
    readonly float _scoreTemperature; // the frames' scores only: the output never depends on it
    readonly float[] _headOut; // [frames, vocab] LM-head logits of the frames
    readonly float[] _logits;  // [vocab + 1] one frame's logits, the blank last

    /// <param name="beamWidth">Prefixes kept after each frame.</param>
    /// <param name="perFrame">Symbols (the blank among them) of a frame the search reads.</param>
    /// <param name="beamSearch">False: the top-k tree per frame, collapsed by the CTC transform (the ablation).</param>
    public CtcNarDrafter(FeatureLayerDraft module, int beamWidth = 16, int perFrame = 8, bool beamSearch = true)
    {
        _beamSearch = beamSearch;
        _scoreTemperature = module.Config.ScoreTemperature ?? module.Config.DefaultScoreTemperature;
        Transform = beamSearch ? TreeTransform.None : TreeTransform.Ctc(CtcTransform.KeepRepeats, module.Config.BlankId);
        _d = module;
        (_frameEmbeddings, _blankRow) = (module.FrameEmbeddings ?? throw new ArgumentException("not a ctc-nar draft", nameof(module)), module.BlankRow!);
        (_frames, _hidden, _vocab, _beamWidth, _perFrame) = (module.Config.Frames, module.Config.HiddenSize, module.Config.VocabSize, beamWidth, perFrame);
        _context = new PairContext(module, 1 + _frames);
        _headOut = new float[_frames * _vocab];
        _logits = new float[_vocab + 1];
    }

    public string Name => _beamSearch ? "ctc-nar" : "ctc-nar-topk";

    public IDrafter Spawn() => new CtcNarDrafter(_d, _beamWidth, _perFrame, _beamSearch);

    public TreeTransform Transform { get; }

    public void Reset() => _context.Reset();

    public void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden) => _context.Observe(tokens, hidden);

    public DraftTree Propose(int root, int maxNodes)
    {
        if (!_context.HasPending || maxNodes <= 1) return new DraftTree(root);
        Transformer layer = _context.Layer;
        if (layer.Cache.Length + 1 + _frames > layer.Cache.Capacity) return new DraftTree(root);
        DepthDistribution[] frames = Frames(root, _perFrame, _scoreTemperature);
        if (!_beamSearch) return TopKTree(root, frames, maxNodes);
        var prefixes = CtcPrefixBeamSearch.Search(frames, blank: _vocab, _beamWidth, _perFrame);
        return CtcPrefixBeamSearch.Tree(root, prefixes, maxNodes);
    }

    /// <summary>
    /// Frame f's symbols as the tree's level f + 1, best-first by the product of the probabilities along the path
    /// (a child never scores above its parent, so every kept node's parent is kept), at most <paramref name="maxNodes"/> nodes.
    /// </summary>
    static DraftTree TopKTree(int root, DepthDistribution[] frames, int maxNodes)
    {
        var tree = new DraftTree(root);
        var queue = new PriorityQueue<(int Parent, int Frame, int Rank, float Score), (float, int)>();
        int order = 0;
        void Children(int parent, int frame, float score)
        {
            if (frame == frames.Length) return;
            for (int i = 0; i < frames[frame].Tokens.Length; i++)
            {
                float p = score * frames[frame].Probs[i];
                queue.Enqueue((parent, frame, i, p), (-p, order++));
            }
        }
        Children(0, 0, 1f);
        while (tree.Count < maxNodes && queue.TryDequeue(out var c, out _))
            Children(tree.Add(c.Parent, frames[c.Frame].Tokens[c.Rank]), c.Frame + 1, c.Score);
        return tree;
    }

    /// <summary>
    /// The top-<paramref name="topK"/> symbols of each of the F frame distributions under <paramref name="root"/>
    /// (the blank is symbol V), their logits divided by <paramref name="temperature"/>; a <paramref name="topK"/> of
    /// V + 1 at temperature 1 gives the whole distributions, as tests compare them.
    /// </summary>
    internal DepthDistribution[] Frames(int root, int topK, float temperature = 1f)
    {
        int H = _hidden, F = _frames, L = _context.Layer.Cache.Length;
        _context.Pair(root, _context.Pending, 0);
        _context.Fc(1);
        Span<float> z = _context.Z(1 + F);                    // [1 + F, H]: the root pair, then the frames
        for (int f = 0; f < F; f++)
            TensorPrimitives.Add(z[..H], _frameEmbeddings.AsSpan(f * H, H), z.Slice((1 + f) * H, H));
        int[] positions = [.. Enumerable.Range(L, 1 + F)];
        int[] parents = [.. Enumerable.Range(-1, 1 + F)];     // a chain: each frame sees the root pair and the frames before it
        _context.Layer.ForwardVectors(z, positions, parents, pendingOffset: 0);
        ReadOnlySpan<float> features = _context.Layer.Hidden(1 + F)[H..]; // [F, H]
        _d.LmHead.MatMul(features, _headOut, F);
        var frames = new DepthDistribution[F];
        for (int f = 0; f < F; f++)
        {
            _headOut.AsSpan(f * _vocab, _vocab).CopyTo(_logits);
            _logits[_vocab] = TensorPrimitives.Dot(_blankRow, features.Slice(f * H, H));
            if (temperature != 1f) TensorPrimitives.Divide(_logits, temperature, _logits);
            frames[f] = DepthDistribution.TopK(_logits, topK);
        }
        return frames;
    }
}
