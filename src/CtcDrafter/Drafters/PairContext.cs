using System.Numerics.Tensors;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>
/// The committed side of an EAGLE-1 layout draft (ctc, eagle, ctc-nar; docs METHOD.md section 2): draft position j
/// consumes the pair (h_j, x_{j+1}), the base model's final hidden state at j and the next token, as
/// z = fc([embed; h]) + bias; a child pair's h is its parent's draft output. A ctc-nar drafter runs its own frame
/// vectors after the root pair (<see cref="Z"/>).
/// </summary>
internal sealed class PairContext : DraftLayerContext
{
    readonly FeatureLayerDraft _d;
    readonly int _hidden;
    readonly float[] _pending;  // [hidden] base feature at the last committed token
    readonly float[] _pairs;    // [maxT, 2 * hidden] (embedding; feature)
    readonly float[] _z;        // [maxT, hidden] fc output

    /// <param name="pendingSlots">The most vectors a step runs after the committed pairs.</param>
    public PairContext(FeatureLayerDraft module, int pendingSlots)
    {
        _d = module;
        _hidden = module.Config.HiddenSize;
        ModelConfig lc = module.Config.LayerConfig(module.Base.Config);
        Layer = new Transformer(new DecoderStack(null, [module.Layer], null, null), lc, module.Base.ContextLength + pendingSlots,
            maxTokens: Math.Max(128, pendingSlots));
        _pending = new float[_hidden];
        _pairs = new float[Layer.MaxTokens * 2 * _hidden];
        _z = new float[Layer.MaxTokens * _hidden];
    }

    public override Transformer Layer { get; }

    /// <summary>The base feature at the last committed token: the feature of the next step's root pair.</summary>
    public ReadOnlySpan<float> Pending => _pending;

    public override bool HasPending => _hasPending;
    bool _hasPending;

    /// <summary>fc outputs of the last <see cref="Fc"/>: [rows, hidden]; a drafter may change them before running them.</summary>
    public Span<float> Z(int rows) => _z.AsSpan(0, rows * _hidden);

    public override void Reset()
    {
        Layer.Cache.Truncate(0);
        _hasPending = false;
    }

    public override void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> hidden)
    {
        int H = _hidden, n = tokens.Length, pairs = 0;
        for (int i = 0; i < n; i++)
        {
            // Pair (feature before token i, token i); the very first token of a sequence has no feature before it.
            ReadOnlySpan<float> before = i == 0 ? _pending : hidden.Slice((i - 1) * H, H);
            if (i == 0 && !HasPending) continue;
            Pair(tokens[i], before, pairs++);
            if (pairs == Layer.MaxTokens) { RunCommitted(pairs); pairs = 0; }
        }
        if (pairs > 0) RunCommitted(pairs);
        hidden.Slice((n - 1) * H, H).CopyTo(_pending);
        _hasPending = true;
    }

    public override void Root(int token, int row) => Pair(token, _pending, row);

    public override void Child(int token, ReadOnlySpan<float> parentOutput, int row) => Pair(token, parentOutput, row);

    public override void Run(int rows, ReadOnlySpan<int> positions, ReadOnlySpan<int> parents, int pendingOffset)
    {
        Fc(rows);
        Layer.ForwardVectors(Z(rows), positions, parents, pendingOffset);
    }

    /// <summary>The base's frozen LM head over the draft outputs (a blank row, if any, is the drafter's).</summary>
    public override void Logits(ReadOnlySpan<float> outputs, Span<float> logits, int rows) => _d.LmHead.MatMul(outputs, logits, rows);

    public override bool HasOwnBlank => _d.BlankRow is not null;

    public override float BlankLogit(ReadOnlySpan<float> output) => TensorPrimitives.Dot(_d.BlankRow!, output);

    /// <summary>Sets row <paramref name="row"/> of the fc input to [embed(token); feature].</summary>
    public void Pair(int token, ReadOnlySpan<float> feature, int row)
    {
        int H = _hidden;
        Span<float> p = _pairs.AsSpan(row * 2 * H, 2 * H);
        _d.Base.Weights.Embedding.ReadRow(token, p[..H]);
        feature.CopyTo(p[H..]);
    }

    /// <summary>z = fc(pair) + bias for the first <paramref name="rows"/> pairs, into <see cref="Z"/>.</summary>
    public void Fc(int rows)
    {
        int H = _hidden;
        _d.Fc.MatMul(_pairs.AsSpan(0, rows * 2 * H), _z, rows);
        for (int r = 0; r < rows; r++) TensorPrimitives.Add(_z.AsSpan(r * H, H), _d.FcBias, _z.AsSpan(r * H, H));
    }

    void RunCommitted(int rows)
    {
        Fc(rows);
        int L = Layer.Cache.Length;
        Layer.ForwardVectors(_z.AsSpan(0, rows * _hidden), Enumerable.Range(L, rows).ToArray(), Enumerable.Range(-1, rows).ToArray(), [], []);
        Layer.Cache.Advance(rows);
    }
}
