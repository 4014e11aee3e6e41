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
/// position each step predicts, step s weighted 0.8^s (EAGLE-3's). The draft vocabulary is the base's (d2t all zero).
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
    /// <param name="kind">eagle3, or eagle3-ctc with its blank row.</param>
    public Eagle3ChainDraft(LlamaConfig layerConfig, FrozenBase frozen, int[] featureLayers, int testSteps, DraftKind kind = DraftKind.Eagle3)
        : base(nameof(Eagle3ChainDraft), frozen)
    {
        if (!kind.IsEagle3()) throw new ArgumentException($"a {kind.Name()} draft is not an EAGLE-3 module", nameof(kind));
        if (kind == DraftKind.Eagle3Ctc && testSteps < CtcFrames)
            throw new TrainingInputException($"an eagle3-ctc draft's CTC loss reads {CtcFrames} chain steps: --test-steps must be at least {CtcFrames} (got {testSteps})");
        (_layerConfig, FeatureLayers, TestSteps, Kind) = (layerConfig, featureLayers, testSteps, kind);
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
    /// The chains from every pair at once: tokens [b, n] (x_{j+1}) and layer states [b, n, kH] (g_j) -> each step's
    /// logits [b, n, vocab]; step s > 0 runs on the tokens <paramref name="next"/>(s, the previous step's logits) gives.
    /// </summary>
    List<Tensor> StepLogits(Tensor tokens, Tensor layers, int steps, Func<int, Tensor, Tensor> next)
    {
        long n = tokens.shape[1];
        var cache = new List<(Tensor K, Tensor V)>();
        var logits = new List<Tensor>(steps);
        Tensor x = _fc.forward(layers), t = tokens;
        for (int s = 0; s < steps; s++)
        {
            if (s > 0) t = next(s, logits[^1]);
            x = _midlayer.Forward(Base.Embed(t), x, arange(n, int64) + s, cache);
            logits.Add(Logits(x));
        }
        return logits;
    }

    /// <summary>tokens [b, n] shifted left by s, zero-padded: step s of the chain from j reads x_{j+1+s}.</summary>
    static Tensor Shifted(Tensor tokens, int s)
    {
        long n = tokens.shape[1];
        if (s >= n) return zeros_like(tokens);
        return cat([tokens.narrow(1, s, n - s), zeros([tokens.shape[0], s], int64)], 1);
    }

    public override (Tensor Loss, Dictionary<string, double> Parts) Loss(DraftBatch batch, DraftLossSettings settings, Random? random)
    {
        using var scope = NewDisposeScope();
        var layers = batch.Layers ?? throw new ArgumentException("an eagle3 batch needs the base's layer states");
        int P = batch.Pairs, H = Base.HiddenSize;
        var logits = StepLogits(batch.Tokens, layers, TestSteps, (s, _) => Shifted(batch.Tokens, s));
        var targets = batch.Targets.reshape(-1, H);
        Tensor loss = zeros(1);
        double weightSum = 0;
        var parts = new Dictionary<string, double>();
        for (int s = 0; s < TestSteps; s++)
        {
            // Chain from j, step s: predicts the base's token after x_{j+1+s}, i.e. its distribution at pair j + s.
            long[] rows = [.. batch.Counted.Where(i => i % P + s < P && batch.Counts[i + s])];
            if (rows.Length == 0) continue;
            var index = tensor(rows);
            var logProbs = logits[s].reshape(-1, Classes).index_select(0, index).log_softmax(-1);
            Tensor target;
            using (no_grad())
            {
                target = Base.Logits(targets.index_select(0, index + s)).softmax(-1);
                if (_blankHead is not null) target = nn.functional.pad(target, [0, 1]); // the base never emits the blank
            }
            var ce = -(target * logProbs).sum([-1]).mean();
            double weight = Math.Pow(StepDecay, s);
            loss = loss + weight * ce;
            weightSum += weight;
            parts[$"soft_ce_{s + 1}"] = ce.item<float>();
        }
        loss = loss / Math.Max(weightSum, 1e-9);
        if (_blankHead is not null && settings.CtcWeight > 0 && Ctc(batch, logits, settings.CtcWindows, random) is { } ctc)
        {
            loss = loss + settings.CtcWeight * ctc;
            parts["ctc"] = ctc.item<float>();
        }
        return (loss.squeeze().MoveToOuterDisposeScope(), parts);
    }

    /// <summary>
    /// The CTC term: the chain from pair j, steps 0..5 (each step's output frame), must spell the base model's next
    /// three greedy tokens g_{j+1..j+3}, blanks and repeats collapsing; windows whose six pairs all lie in an answer,
    /// at most <paramref name="maxWindows"/> of them (at random in training, evenly spread otherwise). Null when the
    /// batch has none.
    /// </summary>
    Tensor? Ctc(DraftBatch batch, List<Tensor> logits, int maxWindows, Random? random)
    {
        int P = batch.Pairs, blank = BlankId!.Value;
        var greedy = batch.Greedy.data<long>().ToArray();
        var windows = batch.Windows(CtcFrames).ToList();
        if (windows.Count == 0) return null;
        if (windows.Count > maxWindows)
            windows = random is null
                ? Enumerable.Range(0, maxWindows).Select(i => windows[(int)((long)i * windows.Count / maxWindows)]).ToList()
                : windows.OrderBy(_ => random.Next()).Take(maxWindows).ToList();
        using var scope = NewDisposeScope();
        int A = windows.Count;
        var starts = tensor(windows.Select(w => (long)w.Row * P + w.Pair).ToArray());
        long[] labels = windows.SelectMany(w => Enumerable.Range(0, CtcLabels).Select(k => greedy[w.Row * P + w.Pair + k])).ToArray();
        var frames = stack([.. logits.Take(CtcFrames).Select(l => l.reshape(-1, Classes).index_select(0, starts))]); // [T, A, C]
        var loss = nn.functional.ctc_loss(frames.log_softmax(-1), tensor(labels, [A, CtcLabels]), full([A], CtcFrames, int64),
            full([A], CtcLabels, int64), blank: blank, reduction: nn.Reduction.Mean);
        return loss.MoveToOuterDisposeScope();
    }

    public override (double[] Sums, long Count) ScoreLosses(DraftBatch batch, DraftLossSettings settings, double[] temperatures)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var counted = tensor(batch.Counted);
        var logits = StepLogits(batch.Tokens, batch.Layers!, 1, (_, _) => throw new InvalidOperationException())[0];
        return (CrossEntropies(logits.reshape(-1, Classes).index_select(0, counted), batch.Greedy.reshape(-1).index_select(0, counted), temperatures),
            batch.Counted.Length);
    }

    /// <summary>
    /// The draft's own chains as the engine drafts them: from every pair j of tokens [1, n] (x_{j+1}) and layer
    /// states [1, n, kH], step s + 1 feeds the most likely real token of step s -> logits [depth, anchors, classes].
    /// </summary>
    public Tensor ChainLogits(Tensor tokens, Tensor layers, long[] anchors, int depth)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var index = tensor(anchors);
        var logits = StepLogits(tokens, layers, depth, (_, previous) => Top1(previous));
        return stack([.. logits.Select(l => l[0].index_select(0, index))]).MoveToOuterDisposeScope();
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
