using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Training.Model;
using TorchSharp.Modules;
using static TorchSharp.torch;
using ModelConfig = CtcDrafter.Model.ModelConfig;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// The EAGLE-3 draft module, trained with EAGLE-3's training-time test: pair j = (g_j, x_{j+1}), g_j the base's
/// states of its feature layers at j, enters as <c>fc(g_j)</c> (kH -> H, no bias); the draft layer
/// (<see cref="Eagle3DecoderLayer"/>) turns it into o_0(j); step s of the chain from j feeds o_{s-1}(j) back with the
/// token x_{j+1+s}, at position j + s, attending to the real pairs up to j and its own earlier steps, exactly as the
/// engine's tree node at depth s from a root j does. Every step's logits come from the final <c>norm</c> and the
/// draft's own <c>lm_head</c>; the loss is the soft cross-entropy against the base model's distribution at the
/// position each step predicts, step s weighted 0.8^s (EAGLE-3's). EAGLE-3 runs the later steps from every pair; on a
/// CPU they run from a random <see cref="TestAnchors"/> of each sample's answer pairs (step 0 from all of them), the
/// same objective sampled. The draft vocabulary is the base's (d2t all zero).
/// Tensor names are EAGLE-3's, which the engine's draft folders use too. The eagle3-ctc variant has a blank row of
/// its own (<c>blank_head</c>, one more class after the vocabulary) and adds the CTC loss of each chain's first six
/// steps against the base's next three greedy tokens: the paper's CTC objective on the multi-step outputs.
/// </summary>
internal sealed class Eagle3ChainDraft : DraftNetwork
{
    const double StepDecay = 0.8;
    const int CtcFrames = 6, CtcLabels = 3;

    readonly LlamaConfig _layerConfig;
    readonly Linear _fc;                 // [hidden, layers * hidden]
    readonly RotaryEmbedding _rope;
    readonly Eagle3DecoderLayer _midlayer;
    readonly RmsNorm _norm;              // [hidden]
    readonly Linear _head;               // [vocab, hidden]
    readonly Linear? _blankHead;         // [1, hidden] (eagle3-ctc)

    /// <param name="layerConfig">The draft layer's shape (<see cref="LayerConfig"/>).</param>
    /// <param name="frozen">The base's embedding and LM head (the head starts the draft's own).</param>
    /// <param name="featureLayers">The base layers whose inputs fc reads (<see cref="BaseFeatures"/>).</param>
    /// <param name="testSteps">Chain steps of the training-time test (1: teacher-forced pairs only; eagle3-ctc needs 6).</param>
    /// <param name="testAnchors">Chains per sample that run the test's later steps (step 0 runs every pair).</param>
    /// <param name="kind">eagle3, or eagle3-ctc with its blank row.</param>
    public Eagle3ChainDraft(LlamaConfig layerConfig, FrozenBase frozen, int[] featureLayers, int testSteps, int testAnchors = 64,
        DraftKind kind = DraftKind.Eagle3)
        : base(nameof(Eagle3ChainDraft), frozen)
    {
        if (!kind.IsEagle3()) throw new ArgumentException($"a {kind.Name()} draft is not an EAGLE-3 module", nameof(kind));
        if (kind == DraftKind.Eagle3Ctc && testSteps < CtcFrames)
            throw new TrainingInputException($"an eagle3-ctc draft's CTC loss reads {CtcFrames} chain steps: --test-steps must be at least {CtcFrames} (got {testSteps})");
        (_layerConfig, FeatureLayers, TestSteps, TestAnchors, Kind) = (layerConfig, featureLayers, testSteps, testAnchors, kind);
        int h = layerConfig.HiddenSize;
        _fc = nn.Linear(featureLayers.Length * h, h, hasBias: false);
        _rope = new RotaryEmbedding(layerConfig.HeadDim, layerConfig.MaxPositionEmbeddings, layerConfig.RopeTheta);
        _midlayer = new Eagle3DecoderLayer(layerConfig, _rope);
        _norm = new RmsNorm(h, layerConfig.RmsNormEps);
        _head = nn.Linear(h, frozen.VocabSize, hasBias: false);
        // The base's head is where a draft that predicts the base's tokens starts from.
        using (no_grad()) _head.weight!.copy_(frozen.LmHead);
        register_module("fc", _fc);
        register_module("rotary_emb", _rope);
        register_module("midlayer", _midlayer);
        register_module("norm", _norm);
        register_module("lm_head", _head);
        if (kind == DraftKind.Eagle3Ctc)
        {
            // Zero: the blank starts as likely as an average token would be at logit 0, and learns from the CTC term.
            _blankHead = nn.Linear(h, 1, hasBias: false);
            using (no_grad()) _blankHead.weight!.zero_();
            register_module("blank_head", _blankHead);
        }
    }

    public override DraftKind Kind { get; }

    /// <summary>The blank's class id (the vocabulary size), or null for eagle3.</summary>
    int? BlankId => _blankHead is null ? null : Base.VocabSize;

    int Classes => Base.VocabSize + (_blankHead is null ? 0 : 1);

    public int[] FeatureLayers { get; }

    public int TestSteps { get; }

    public int TestAnchors { get; }

    /// <summary>
    /// The base layers a new draft reads: EAGLE-3's low, middle and high choice (<see cref="BaseFeatures.Eagle3Default"/>),
    /// or, on a base of fewer than six layers where those coincide, the input of every layer.
    /// </summary>
    public static int[] DefaultLayers(int layers) => layers >= 6 ? BaseFeatures.Eagle3Default(layers) : [.. Enumerable.Range(0, layers)];

    /// <summary>The draft layer's shape: the base layer's, rotary tables reaching past the context for chains.</summary>
    public static LlamaConfig LayerConfig(ModelConfig b) => FeatureChainDraft.LayerConfig(b);

    /// <summary>Draft outputs [.., hidden] -> logits [.., vocab (+1: the blank, eagle3-ctc)].</summary>
    public Tensor Logits(Tensor outputs)
    {
        using var scope = NewDisposeScope();
        var normed = _norm.forward(outputs);
        var logits = _head.forward(normed);
        if (_blankHead is not null) logits = cat([logits, _blankHead.forward(normed)], -1);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>The most likely real token of each row of logits [.., classes] (the blank excluded): [..] int64.</summary>
    Tensor Top1(Tensor logits)
    {
        using var scope = NewDisposeScope();
        if (BlankId is int blank) logits = logits.index_fill(-1, tensor(new long[] { blank }), float.NegativeInfinity);
        return logits.argmax(-1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The chains from pairs <paramref name="anchors"/> [b, A] of tokens [b, n] (x_{j+1}) and layer states
    /// [b, n, kH] (g_j): step 0 runs every pair (the real pairs are every chain's context) and gives its logits
    /// [b, n, classes]; steps 1..<paramref name="steps"/> - 1 run the A chains only, step s on the tokens
    /// <paramref name="next"/>(s, the previous step's logits [b, A, classes]) gives, each step's logits [b, A, classes].
    /// </summary>
    (Tensor First, List<Tensor> Later) StepLogits(Tensor tokens, Tensor layers, Tensor anchors, int steps, Func<int, Tensor, Tensor> next)
    {
        var cache = new List<(Tensor K, Tensor V)>();
        var x = _midlayer.Forward(Base.Embed(tokens), _fc.forward(layers), anchors, cache); // [b, n, H]
        var first = Logits(x);
        var later = new List<Tensor>(steps - 1);
        x = Gather(x, anchors);
        var previous = Gather(first, anchors);
        for (int s = 1; s < steps; s++)
        {
            x = _midlayer.Forward(Base.Embed(next(s, previous)), x, anchors, cache);
            later.Add(previous = Logits(x));
        }
        return (first, later);
    }

    /// <summary>Rows <paramref name="anchors"/> [b, A] of values [b, n, c] -> [b, A, c].</summary>
    static Tensor Gather(Tensor values, Tensor anchors) =>
        values.gather(1, anchors.unsqueeze(-1).expand(anchors.shape[0], anchors.shape[1], values.shape[2]));

    /// <summary>
    /// Up to <see cref="TestAnchors"/> chain starts per row among the pairs that count (at random when
    /// <paramref name="random"/> is given, else evenly spread), as [b, A] with a validity mask (rows with fewer repeat
    /// their first start, masked out).
    /// </summary>
    (long[] Anchors, bool[] Valid, int A) ChooseAnchors(DraftBatch batch, Random? random)
    {
        int B = batch.Batch, P = batch.Pairs;
        var rows = Enumerable.Range(0, B).Select(b => Enumerable.Range(0, P).Where(j => batch.Counts[b * P + j]).ToList()).ToList();
        int A = Math.Max(1, Math.Min(TestAnchors, rows.Max(r => r.Count)));
        var anchors = new long[B * A];
        var valid = new bool[B * A];
        for (int b = 0; b < B; b++)
        {
            var r = rows[b];
            List<int> chosen = r.Count <= A ? r
                : random is null ? [.. Enumerable.Range(0, A).Select(i => r[(int)((long)i * r.Count / A)])]
                : [.. r.OrderBy(_ => random.Next()).Take(A).Order()];
            for (int a = 0; a < A; a++)
            {
                valid[b * A + a] = a < chosen.Count;
                anchors[b * A + a] = a < chosen.Count ? chosen[a] : chosen.FirstOrDefault();
            }
        }
        return (anchors, valid, A);
    }

    public override (Tensor Loss, Dictionary<string, double> Parts) Loss(DraftBatch batch, DraftLossSettings settings, Random? random)
    {
        using var scope = NewDisposeScope();
        var layers = batch.Layers ?? throw new ArgumentException("an eagle3 batch needs the base's layer states");
        int B = batch.Batch, P = batch.Pairs, H = Base.HiddenSize;
        var (anchorValues, valid, A) = ChooseAnchors(batch, random);
        var anchors = tensor(anchorValues, [B, A]);
        // Step s of the chain from j reads x_{j+1+s} and predicts the base's token after it (its distribution at pair j + s).
        Tensor TokensAt(int s) => batch.Tokens.gather(1, (anchors + s).clamp_max(P - 1));
        var (first, later) = StepLogits(batch.Tokens, layers, anchors, TestSteps, (s, _) => TokensAt(s));
        var targets = batch.Targets.reshape(-1, H);
        var parts = new Dictionary<string, double>();

        Tensor SoftCe(Tensor logits, long[] rows, long[] targetRows)
        {
            var logProbs = logits.reshape(-1, Classes).index_select(0, tensor(rows)).log_softmax(-1);
            Tensor target;
            using (no_grad())
            {
                target = Base.Logits(targets.index_select(0, tensor(targetRows))).softmax(-1);
                if (_blankHead is not null) target = nn.functional.pad(target, [0, 1]); // the base never emits the blank
            }
            return -(target * logProbs).sum([-1]).mean();
        }

        var loss = SoftCe(first, batch.Counted, batch.Counted);
        parts["soft_ce_1"] = loss.item<float>();
        double weightSum = 1;
        for (int s = 1; s < TestSteps; s++)
        {
            long[] rows = [.. Enumerable.Range(0, B * A).Where(i => valid[i] && anchorValues[i] + s < P && batch.Counts[i / A * P + anchorValues[i] + s]).Select(i => (long)i)];
            if (rows.Length == 0) continue;
            var ce = SoftCe(later[s - 1], rows, [.. rows.Select(i => i / A * P + anchorValues[i] + s)]);
            double weight = Math.Pow(StepDecay, s);
            loss = loss + weight * ce;
            weightSum += weight;
            parts[$"soft_ce_{s + 1}"] = ce.item<float>();
        }
        loss = loss / weightSum;
        if (_blankHead is not null && settings.CtcWeight > 0 && Ctc(batch, first, later, anchorValues, valid, A, settings.CtcWindows) is { } ctc)
        {
            loss = loss + settings.CtcWeight * ctc;
            parts["ctc"] = ctc.item<float>();
        }
        return (loss.MoveToOuterDisposeScope(), parts);
    }

    /// <summary>
    /// The CTC term: the chain from pair j, steps 0..5 (each step's output frame), must spell the base model's next
    /// three greedy tokens g_{j+1..j+3}, blanks and repeats collapsing; over the chosen chains whose six pairs all
    /// lie in an answer, at most <paramref name="maxWindows"/> of them. Null when there is none.
    /// </summary>
    Tensor? Ctc(DraftBatch batch, Tensor first, List<Tensor> later, long[] anchors, bool[] valid, int A, int maxWindows)
    {
        int P = batch.Pairs;
        var greedy = batch.Greedy.data<long>().ToArray();
        long[] chains = [.. Enumerable.Range(0, anchors.Length)
            .Where(i => valid[i] && anchors[i] + CtcFrames <= P && Enumerable.Range(0, CtcFrames).All(f => batch.Counts[i / A * P + anchors[i] + f]))
            .Take(maxWindows).Select(i => (long)i)];
        if (chains.Length == 0) return null;
        using var scope = NewDisposeScope();
        var index = tensor(chains);
        long[] pairs = [.. chains.Select(i => i / A * P + anchors[i])];
        var frames = stack([first.reshape(-1, Classes).index_select(0, tensor(pairs)),
            .. later.Take(CtcFrames - 1).Select(l => l.reshape(-1, Classes).index_select(0, index))]); // [T, chains, C]
        long[] labels = [.. pairs.SelectMany(p => Enumerable.Range(0, CtcLabels).Select(k => greedy[p + k]))];
        int n = chains.Length;
        var loss = nn.functional.ctc_loss(frames.log_softmax(-1), tensor(labels, [n, CtcLabels]), full([n], CtcFrames, int64),
            full([n], CtcLabels, int64), blank: BlankId!.Value, reduction: nn.Reduction.Mean);
        return loss.MoveToOuterDisposeScope();
    }

    public override (double[] Sums, long Count) ScoreLosses(DraftBatch batch, DraftLossSettings settings, double[] temperatures)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var counted = tensor(batch.Counted);
        var (first, _) = StepLogits(batch.Tokens, batch.Layers!, zeros([batch.Batch, 1], int64), 1, (_, _) => throw new InvalidOperationException());
        return (CrossEntropies(first.reshape(-1, Classes).index_select(0, counted), batch.Greedy.reshape(-1).index_select(0, counted), temperatures),
            batch.Counted.Length);
    }

    /// <summary>
    /// The draft's own chains as the engine drafts them: from pairs <paramref name="anchors"/> of tokens [1, n]
    /// (x_{j+1}) and layer states [1, n, kH], step s + 1 feeds the most likely real token of step s -> logits
    /// [depth, anchors, classes].
    /// </summary>
    public Tensor ChainLogits(Tensor tokens, Tensor layers, long[] anchors, int depth)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var index = tensor(anchors, [1, anchors.Length]);
        var (first, later) = StepLogits(tokens, layers, index, depth, (_, previous) => Top1(previous));
        return stack([Gather(first, index)[0], .. later.Select(l => l[0])]).MoveToOuterDisposeScope();
    }

    public override Tensor DepthTokens(DraftBatch batch, long[] anchors, int depth)
    {
        using var scope = NewDisposeScope();
        return Top1(ChainLogits(batch.Tokens.narrow(0, 0, 1), batch.Layers!.narrow(0, 0, 1), anchors, depth)).MoveToOuterDisposeScope();
    }

    /// <summary>EAGLE-3's draft-to-base offsets: all zero, the draft vocabulary being the base's.</summary>
    public override IEnumerable<SafeTensorsWriter.Entry> ExtraTensors =>
        [new("d2t", TensorDType.I64, [Base.VocabSize], new byte[8 * Base.VocabSize])];

    public override DraftConfig Config(BaseIdentity identity) => new()
    {
        Kind = Kind, BaseModel = identity, HiddenSize = _layerConfig.HiddenSize, VocabSize = Base.VocabSize,
        IntermediateSize = _layerConfig.IntermediateSize, NumHeads = _layerConfig.NumAttentionHeads,
        NumKvHeads = _layerConfig.NumKeyValueHeads, HeadDim = _layerConfig.HeadDim, RmsNormEps = (float)_layerConfig.RmsNormEps,
        RopeTheta = (float)_layerConfig.RopeTheta, FeatureLayers = FeatureLayers, DraftVocabSize = Base.VocabSize,
        Blank = _blankHead is null ? BlankMode.None : BlankMode.Own,
    };
}
