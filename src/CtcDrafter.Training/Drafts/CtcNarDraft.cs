using CtcDrafter.Drafters;
using CtcDrafter.Training.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// The non-autoregressive CTC draft (docs METHOD.md section 8): the feature chain's fc, decoder layer and blank
/// row, plus F = r * K learned frame embeddings. From the root pair j = (h_j, x_{j+1}) (x_{j+1} the root), frame f
/// has input z_j + E[f] at position j + 1 + f and attends to the pairs 0..j and to frames 0..f; its output through
/// the frozen LM head and the blank row is a distribution over the vocabulary and the blank. The F frames are
/// trained with the CTC loss to spell the base model's next K greedy tokens after the root, g_{j+1..j+K}, so
/// blanks and repeats absorb the alignment. Tensor names are the engine's (frames: <c>frame_embeddings.weight</c>).
/// </summary>
internal sealed class CtcNarDraft : FeatureChainDraft
{
    readonly Embedding _frames; // [F, hidden]

    public CtcNarDraft(LlamaConfig layerConfig, FrozenBase frozen, int futureTokens, int upsampling)
        : base(layerConfig, frozen, DraftKind.CtcNar, BlankMode.Own)
    {
        if (futureTokens < 1 || upsampling < 1 || futureTokens * upsampling > DraftConfig.MaxFrames)
            throw new TrainingInputException($"a ctc-nar draft needs --future-tokens and --upsampling of at least 1 and at most {DraftConfig.MaxFrames} frames");
        (FutureTokens, Upsampling) = (futureTokens, upsampling);
        _frames = nn.Embedding(Frames, layerConfig.HiddenSize);
        using (no_grad()) nn.init.normal_(_frames.weight!, 0, 0.02);
        register_module("frame_embeddings", _frames);
    }

    /// <summary>K, the tokens after the root the frames spell.</summary>
    public int FutureTokens { get; }
    /// <summary>r, frames per token.</summary>
    public int Upsampling { get; }
    public int Frames => FutureTokens * Upsampling;

    /// <summary>
    /// The frame outputs from root pairs <paramref name="anchors"/> of one row: tokens [n] (x_{j+1}), features [n, hidden]
    /// (h_j) -> [anchors, F, hidden]. One pass of the layer over the n pairs (causal) and the anchors' frames.
    /// </summary>
    public Tensor FrameFeatures(Tensor tokens, Tensor features, long[] anchors)
    {
        using var scope = NewDisposeScope();
        int n = (int)tokens.shape[0], A = anchors.Length, F = Frames, T = n + A * F, H = (int)features.shape[^1];
        var pairs = Pairs(tokens, features);                                                    // [n, H]
        var frames = (pairs.index_select(0, tensor(anchors)).unsqueeze(1) + _frames.weight!.unsqueeze(0)).reshape(A * F, H);
        var positions = new long[T];
        var mask = new bool[(long)T * T];
        for (int i = 0; i < n; i++)
        {
            positions[i] = i;
            for (int k = 0; k <= i; k++) mask[(long)i * T + k] = true;
        }
        for (int a = 0; a < A; a++)
            for (int f = 0; f < F; f++)
            {
                long row = n + a * F + f;
                positions[row] = anchors[a] + 1 + f;
                for (int k = 0; k <= anchors[a]; k++) mask[row * T + k] = true;
                for (int g = 0; g <= f; g++) mask[row * T + n + a * F + g] = true;
            }
        var output = Layer.Forward(cat([pairs, frames], 0).unsqueeze(0), tensor(positions), tensor(mask, [T, T]))[0];
        return output.narrow(0, n, A * F).view(A, F, H).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The CTC loss of the frames from up to ctc_windows root pairs per batch (drawn at random in training, evenly
    /// spread otherwise), each a pair j whose next K pairs count (the root and its K tokens lie in the answer), against
    /// the base model's greedy tokens g_{j..j+K-1} (the K tokens after the root x_{j+1}).
    /// </summary>
    public override (Tensor Loss, Dictionary<string, double> Parts) Loss(DraftBatch batch, DraftLossSettings settings, Random? random)
    {
        using var scope = NewDisposeScope();
        var inputs = Noisy(batch.Features, batch, settings, random);
        var windows = Windows(batch, settings.CtcWindows, random);
        if (windows.Count == 0)
        {
            var none = (Pairs(batch.Tokens, inputs).sum() * 0).MoveToOuterDisposeScope();
            return (none, new Dictionary<string, double> { ["ctc"] = 0 });
        }
        var (logits, labels) = FrameLogits(batch, inputs, windows);
        var ctc = Ctc(logits, labels, nn.Reduction.Mean);
        return (ctc.MoveToOuterDisposeScope(), new Dictionary<string, double> { ["ctc"] = ctc.item<float>() });
    }

    public override (double[] Sums, long Count) ScoreLosses(DraftBatch batch, DraftLossSettings settings, double[] temperatures)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var windows = Windows(batch, settings.CtcWindows, random: null);
        if (windows.Count == 0) return (new double[temperatures.Length], 0);
        var (logits, labels) = FrameLogits(batch, batch.Features, windows);
        return ([.. temperatures.Select(t => (double)Ctc(logits / t, labels, nn.Reduction.Sum).item<float>())], windows.Count);
    }

    /// <summary>Root pairs j whose next K pairs count, at most <paramref name="max"/>: drawn at random, else evenly spread.</summary>
    List<(int Row, int Pair)> Windows(DraftBatch batch, int max, Random? random)
    {
        var windows = batch.Windows(FutureTokens).ToList();
        if (windows.Count <= max) return windows;
        return random is null
            ? Enumerable.Range(0, max).Select(i => windows[(int)((long)i * windows.Count / max)]).ToList()
            : windows.OrderBy(_ => random.Next()).Take(max).OrderBy(w => w.Row).ThenBy(w => w.Pair).ToList();
    }

    /// <summary>The frames' logits from the root pairs <paramref name="windows"/> [A, F, C] and their labels g_{j..j+K-1} [A, K].</summary>
    (Tensor Logits, Tensor Labels) FrameLogits(DraftBatch batch, Tensor inputs, List<(int Row, int Pair)> windows)
    {
        using var scope = NewDisposeScope();
        int P = batch.Pairs, K = FutureTokens;
        var greedy = batch.Greedy.data<long>().ToArray();
        var rows = windows.GroupBy(w => w.Row).ToList(); // the frames of one row run in one pass
        var outputs = rows.Select(g => FrameFeatures(batch.Tokens[g.Key], inputs[g.Key], [.. g.Select(w => (long)w.Pair)])).ToList();
        long[] labels = [.. rows.SelectMany(g => g).SelectMany(w => Enumerable.Range(0, K).Select(k => greedy[w.Row * P + w.Pair + k]))];
        return (Logits(cat(outputs, 0)).MoveToOuterDisposeScope(), tensor(labels, [windows.Count, K]).MoveToOuterDisposeScope());
    }

    /// <summary>The CTC loss of frame logits [A, F, C] against labels [A, K], blank V, impossible alignments zeroed.</summary>
    Tensor Ctc(Tensor logits, Tensor labels, nn.Reduction reduction)
    {
        using var scope = NewDisposeScope();
        long A = logits.shape[0];
        var logProbs = logits.log_softmax(-1).transpose(0, 1); // [F, A, C]
        return nn.functional.ctc_loss(logProbs, labels, full([A], Frames, int64), full([A], FutureTokens, int64),
            blank: BlankId!.Value, reduction: reduction, zero_infinity: true).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The first <paramref name="depth"/> tokens of each anchor's best path (every frame's most likely symbol,
    /// runs merged, blanks dropped), as the greedy-collapse metric reads them: [depth, anchors] int64, -1 past the
    /// end of a shorter collapse.
    /// </summary>
    public override Tensor DepthTokens(DraftBatch batch, long[] anchors, int depth)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var best = Logits(FrameFeatures(batch.Tokens[0], batch.Features[0], anchors)).argmax(-1).data<long>().ToArray(); // [A, F]
        var tokens = new long[depth * anchors.Length];
        Array.Fill(tokens, -1L);
        for (int a = 0; a < anchors.Length; a++)
        {
            int d = 0;
            long previous = -1;
            for (int f = 0; f < Frames && d < depth; f++)
            {
                long s = best[a * Frames + f];
                if (s != previous && s != BlankId) tokens[d++ * anchors.Length + a] = s;
                previous = s;
            }
        }
        return tensor(tokens, [depth, anchors.Length]).MoveToOuterDisposeScope();
    }

    public override DraftConfig Config(BaseIdentity identity) => base.Config(identity) with { FutureTokens = FutureTokens, Upsampling = Upsampling };
}
