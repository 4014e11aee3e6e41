using CtcDrafter.Drafters;
using CtcDrafter.Training.Model;
using ModelConfig = CtcDrafter.Model.ModelConfig;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// The CTC-drafter / EAGLE draft module (docs METHOD.md section 2): pair (h_j, x_{j+1}) becomes
/// <c>z = fc([embed(x_{j+1}); h_j]) + bias</c>, one decoder layer without input norm turns it into the draft feature
/// f_j (trained towards h_{j+1}), and the base model's frozen LM head gives the logits, plus for a ctc draft with its
/// own blank one more logit <c>blank_head · f_j</c> (class id = vocabulary size). Tensor names are the engine's.
/// </summary>
internal class FeatureChainDraft : DraftNetwork
{
    const int CtcFrames = 6, CtcLabels = 3;

    readonly LlamaConfig _layerConfig;
    readonly BlankMode _blank;
    readonly Linear _fc;                          // [hidden, 2 * hidden] + bias [hidden]
    readonly RotaryEmbedding _rope;
    readonly ModuleList<DraftDecoderLayer> _layers; // exactly one
    readonly Linear? _blankHead;                  // [1, hidden]

    /// <summary>A draft of a base layer's shape (<paramref name="layerConfig"/>; its layer count is ignored), freshly initialised.</summary>
    public FeatureChainDraft(LlamaConfig layerConfig, FrozenBase frozen, DraftKind kind, BlankMode blank) : base(nameof(FeatureChainDraft), frozen)
    {
        if (kind == DraftKind.Medusa || kind.HasBlank() != (blank != BlankMode.None))
            throw new ArgumentException($"a {kind} feature-chain draft cannot have blank {blank}");
        (Kind, _blank, _layerConfig) = (kind, blank, layerConfig);
        int h = layerConfig.HiddenSize;
        _fc = nn.Linear(2 * h, h, hasBias: true);
        _rope = new RotaryEmbedding(layerConfig.HeadDim, layerConfig.MaxPositionEmbeddings, layerConfig.RopeTheta);
        _layers = nn.ModuleList(new DraftDecoderLayer(layerConfig, _rope));
        register_module("fc", _fc);
        register_module("rotary_emb", _rope);
        register_module("layers", _layers);
        if (blank == BlankMode.Own)
        {
            // The paper reuses token 0 (<unk>) as the blank, but the LM head is the base's and frozen: the blank's
            // logit would be tied to <unk>'s row, which the base model trained for another purpose. A row of the
            // draft's own lets it learn when to emit "nothing" without touching the base's head.
            _blankHead = nn.Linear(h, 1, hasBias: false);
            using (no_grad()) _blankHead.weight!.zero_();
            register_module("blank_head", _blankHead);
        }
    }

    public override DraftKind Kind { get; }

    /// <summary>The draft layer's shape: one layer of the base's; rotary tables reach past the context for chains.</summary>
    public static LlamaConfig LayerConfig(ModelConfig b)
    {
        if (b.HeadDim * b.NumHeads != b.HiddenSize)
            throw new TrainingInputException($"a base model with head_dim {b.HeadDim} other than hidden_size / num_attention_heads is not supported");
        return new LlamaConfig
        {
            HiddenSize = b.HiddenSize, IntermediateSize = b.IntermediateSize, NumHiddenLayers = 1, NumAttentionHeads = b.NumHeads,
            NumKeyValueHeads = b.NumKvHeads, VocabSize = b.VocabSize, MaxPositionEmbeddings = b.MaxPositionEmbeddings + 64,
            RmsNormEps = b.RmsNormEps, RopeTheta = b.RopeTheta,
        };
    }

    /// <summary>The blank's class id, or null for an eagle draft.</summary>
    public int? BlankId => _blank switch { BlankMode.Own => Base.VocabSize, BlankMode.Unk => 0, _ => null };

    /// <summary>Teacher-forced draft features of pairs: tokens [b, n] (x_{j+1}), features [b, n, hidden] (h_j) -> [b, n, hidden].</summary>
    public Tensor Features(Tensor tokens, Tensor features)
    {
        using var scope = NewDisposeScope();
        return _layers[0].Forward(Pairs(tokens, features), null, null).MoveToOuterDisposeScope();
    }

    /// <summary>The fc outputs of pairs: tokens [.., n] (x_{j+1}), features [.., n, hidden] (h_j) -> [.., n, hidden].</summary>
    protected Tensor Pairs(Tensor tokens, Tensor features)
    {
        using var scope = NewDisposeScope();
        return _fc.forward(cat([Base.Embed(tokens), features], -1)).MoveToOuterDisposeScope();
    }

    /// <summary>The draft's decoder layer.</summary>
    protected DraftDecoderLayer Layer => _layers[0];

    /// <summary>The inputs with the training noise (EAGLE's AddUniformNoise) when <paramref name="random"/> is given.</summary>
    protected static Tensor Noisy(Tensor inputs, DraftBatch batch, DraftLossSettings settings, Random? random) =>
        random is not null && settings.Noise > 0 ? inputs + (rand_like(inputs) - 0.5) * (settings.Noise * 512 / batch.Pairs) : inputs;

    /// <summary>features [.., hidden] -> logits [.., vocab (+1 with its own blank)].</summary>
    public Tensor Logits(Tensor features)
    {
        using var scope = NewDisposeScope();
        var logits = Base.Logits(features);
        if (_blankHead is not null) logits = cat([logits, _blankHead.forward(features)], -1);
        return logits.MoveToOuterDisposeScope();
    }

    public override (Tensor Loss, Dictionary<string, double> Parts) Loss(DraftBatch batch, DraftLossSettings settings, Random? random)
    {
        using var scope = NewDisposeScope();
        int H = Base.HiddenSize;
        var inputs = Noisy(batch.Features, batch, settings, random);
        // Every pair goes through the layer (the prompt's pairs are context), the losses only look at the counted ones.
        var counted = tensor(batch.Counted);
        var f = Features(batch.Tokens, inputs).reshape(-1, H).index_select(0, counted); // [M, H]
        var targets = batch.Targets.reshape(-1, H).index_select(0, counted);           // [M, H]
        var logProbs = Logits(f).log_softmax(-1);                                       // [M, C]

        var feature = nn.functional.smooth_l1_loss(f, targets, reduction: nn.Reduction.None).mean([-1]).mean();
        Tensor target;
        using (no_grad())
        {
            target = Base.Logits(targets).softmax(-1);  // [M, V]: the base's distribution after x_{j+1}
            if (_blankHead is not null) target = nn.functional.pad(target, [0, 1]); // the base never emits the blank
        }
        var softCe = -(target * logProbs).sum([-1]).mean();
        var loss = DraftLossSettings.FeatureWeight * feature + DraftLossSettings.SoftCrossEntropyWeight * softCe;
        var parts = new Dictionary<string, double> { ["feature"] = feature.item<float>(), ["soft_ce"] = softCe.item<float>() };
        if (Kind == DraftKind.Ctc && settings.CtcWeight > 0 && Ctc(batch, logProbs, settings.CtcWindows, random) is { } ctc)
        {
            loss = loss + settings.CtcWeight * ctc;
            parts["ctc"] = ctc.item<float>();
        }
        return (loss.MoveToOuterDisposeScope(), parts);
    }

    public override (double[] Sums, long Count) ScoreLosses(DraftBatch batch, DraftLossSettings settings, double[] temperatures)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var counted = tensor(batch.Counted);
        var f = Features(batch.Tokens, batch.Features).reshape(-1, Base.HiddenSize).index_select(0, counted);
        return (CrossEntropies(Logits(f), batch.Greedy.reshape(-1).index_select(0, counted), temperatures), batch.Counted.Length);
    }

    /// <summary>
    /// The CTC term: for a window of pairs j..j+5 inside an answer, the six teacher-forced output frames must
    /// spell the base model's next three greedy tokens g_{j+1..j+3}, blanks and repeats collapsing. The labels are
    /// the base's greedy tokens, not the distilled text, because the draft is judged by agreement with the base
    /// model's own choices (here they coincide, the answers being greedy; the greedy tokens are what stays right
    /// if the data ever comes from elsewhere). <paramref name="logProbs"/> [counted pairs, classes] holds the rows of
    /// <see cref="DraftBatch.Counted"/>. Null when the batch has no window.
    /// </summary>
    public Tensor? Ctc(DraftBatch batch, Tensor logProbs, int maxWindows, Random? random)
    {
        int P = batch.Pairs, C = (int)logProbs.shape[^1];
        var greedy = batch.Greedy.data<long>().ToArray();
        var windows = batch.Windows(CtcFrames)
            .Where(w => BlankId is not int blank || Enumerable.Range(0, CtcLabels).All(k => greedy[w.Row * P + w.Pair + k] != blank))
            .ToList();
        if (windows.Count == 0) return null;
        if (windows.Count > maxWindows)
            windows = random is null
                ? Enumerable.Range(0, maxWindows).Select(i => windows[(int)((long)i * windows.Count / maxWindows)]).ToList()
                : windows.OrderBy(_ => random.Next()).Take(maxWindows).ToList();
        var rowOf = new Dictionary<long, long>(batch.Counted.Length);
        for (int i = 0; i < batch.Counted.Length; i++) rowOf[batch.Counted[i]] = i;
        using var scope = NewDisposeScope();
        int A = windows.Count;
        long[] frames = windows.SelectMany(w => Enumerable.Range(0, CtcFrames).Select(f => rowOf[(long)w.Row * P + w.Pair + f])).ToArray();
        long[] labels = windows.SelectMany(w => Enumerable.Range(0, CtcLabels).Select(k => greedy[w.Row * P + w.Pair + k])).ToArray();
        var input = logProbs.index_select(0, tensor(frames)).view(A, CtcFrames, C).transpose(0, 1); // [T, A, C]
        var loss = nn.functional.ctc_loss(input, tensor(labels, [A, CtcLabels]), full([A], CtcFrames, int64), full([A], CtcLabels, int64),
            blank: BlankId!.Value, reduction: nn.Reduction.Mean);
        return loss.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The draft's own chain, as the engine drafts (docs METHOD.md section 2): depth 1 is the teacher-forced output
    /// at pair j = (h_j, x_{j+1}); depth d + 1 feeds the pair (f, t) of the draft's depth-d feature and its most
    /// likely real token (the blank excluded) at position j + d, attending to the real pairs up to j and to the
    /// chain's earlier steps. tokens [n] (x_{j+1}), features [n, hidden] (h_j) -> logits [depth, anchors, classes].
    /// </summary>
    public Tensor ChainLogits(Tensor tokens, Tensor features, long[] anchors, int depth)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int n = (int)tokens.shape[0], A = anchors.Length;
        var anchorIndex = tensor(anchors);
        var real = _fc.forward(cat([Base.Embed(tokens), features], -1)); // [n, H]
        var chain = new List<Tensor>();                                  // per step 2..depth: [A, H] fc outputs
        var results = new List<Tensor>();
        Tensor f = _layers[0].Forward(real.unsqueeze(0), null, null)[0].index_select(0, anchorIndex); // [A, H]
        for (int d = 1; ; d++)
        {
            var logits = Logits(f); // [A, C]
            results.Add(logits);
            if (d == depth) break;
            var next = Top1(logits);
            chain.Add(_fc.forward(cat([Base.Embed(next), f], -1)));
            int steps = chain.Count, T = n + A * steps;
            var positions = new long[T];
            var mask = new bool[T * T];
            for (int i = 0; i < n; i++)
            {
                positions[i] = i;
                for (int k = 0; k <= i; k++) mask[i * T + k] = true;
            }
            for (int s = 0; s < steps; s++)
                for (int a = 0; a < A; a++)
                {
                    int row = n + s * A + a;
                    positions[row] = anchors[a] + s + 1;
                    for (int k = 0; k <= anchors[a]; k++) mask[row * T + k] = true;
                    for (int s2 = 0; s2 <= s; s2++) mask[row * T + n + s2 * A + a] = true;
                }
            var input = cat([real, .. chain], 0).unsqueeze(0); // [1, T, H]
            var output = _layers[0].Forward(input, tensor(positions), tensor(mask, [T, T]))[0];
            f = output.narrow(0, n + (steps - 1) * A, A);
        }
        return stack(results).MoveToOuterDisposeScope();
    }

    /// <summary>The most likely real token of each row of logits [.., classes] (the blank excluded): [..] int64.</summary>
    public Tensor Top1(Tensor logits)
    {
        using var scope = NewDisposeScope();
        if (BlankId is int blank) logits = logits.index_fill(-1, tensor(new long[] { blank }), float.NegativeInfinity);
        return logits.argmax(-1).MoveToOuterDisposeScope();
    }

    public override Tensor DepthTokens(DraftBatch batch, long[] anchors, int depth)
    {
        using var scope = NewDisposeScope();
        return Top1(ChainLogits(batch.Tokens[0], batch.Features[0], anchors, depth)).MoveToOuterDisposeScope();
    }

    public override DraftConfig Config(BaseIdentity identity) => new()
    {
        Kind = Kind, BaseModel = identity, HiddenSize = _layerConfig.HiddenSize, VocabSize = Base.VocabSize,
        IntermediateSize = _layerConfig.IntermediateSize, NumHeads = _layerConfig.NumAttentionHeads,
        NumKvHeads = _layerConfig.NumKeyValueHeads, HeadDim = _layerConfig.HeadDim, RmsNormEps = (float)_layerConfig.RmsNormEps,
        RopeTheta = (float)_layerConfig.RopeTheta, Blank = _blank,
    };
}
