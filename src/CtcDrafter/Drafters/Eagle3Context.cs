using System.Numerics.Tensors;
using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Drafters;

/// <summary>
/// The committed side of an EAGLE-3 draft: draft position j consumes (g_j, x_{j+1}), where g_j is the concatenation
/// of the base's chosen layer states at j, as the layer input z = fc(g_j) beside the embedding of x_{j+1}. A child pair's
/// z is its parent's draft output itself (EAGLE-3 feeds the layer's own output back, without fc). The logits are the
/// draft's own head after its final norm, over the draft vocabulary, placed at their base ids (every other base token
/// gets -inf: the draft never proposes it).
/// </summary>
internal sealed class Eagle3Context : DraftLayerContext
{
    readonly Eagle3Draft _d;
    readonly int _hidden, _width;  // width = feature layers * hidden
    readonly float[] _pending;     // [width] base states at the last committed token
    readonly float[] _g;           // [maxT, width] base states of committed pairs
    readonly float[] _z;           // [maxT, hidden] layer inputs
    readonly float[] _e;           // [maxT, hidden] token embeddings
    readonly float[] _normed;      // [maxT, hidden] final-normed outputs
    readonly float[] _draftLogits; // [maxT, draft vocab]
    bool _hasPending;

    public Eagle3Context(Eagle3Draft module, int pendingSlots)
    {
        _d = module;
        _hidden = module.Config.HiddenSize;
        _width = module.Config.FeatureLayers.Length * _hidden;
        ModelConfig lc = module.Config.LayerConfig(module.Base.Config);
        Layer = new Transformer(new DecoderStack(null, [module.Layer], null, null), lc, module.Base.ContextLength + pendingSlots,
            maxTokens: Math.Max(128, pendingSlots));
        int t = Layer.MaxTokens;
        _pending = new float[_width];
        _g = new float[t * _width];
        _z = new float[t * _hidden];
        _e = new float[t * _hidden];
        _normed = new float[t * _hidden];
        _draftLogits = new float[t * module.Config.DraftVocabSize];
    }

    public override Transformer Layer { get; }

    public override bool HasPending => _hasPending;

    public override void Reset()
    {
        Layer.Cache.Truncate(0);
        _hasPending = false;
    }

    public override void Observe(ReadOnlySpan<int> tokens, ReadOnlySpan<float> features)
    {
        int W = _width, n = tokens.Length, pairs = 0;
        for (int i = 0; i < n; i++)
        {
            // Pair (states before token i, token i); the very first token of a sequence has no states before it.
            if (i == 0 && !_hasPending) continue;
            (i == 0 ? _pending : features.Slice((i - 1) * W, W)).CopyTo(_g.AsSpan(pairs * W, W));
            Embed(tokens[i], pairs++);
            if (pairs == Layer.MaxTokens) { RunCommitted(pairs); pairs = 0; }
        }
        if (pairs > 0) RunCommitted(pairs);
        features.Slice((n - 1) * W, W).CopyTo(_pending);
        _hasPending = true;
    }

    public override void Root(int token, int row)
    {
        _d.Fc.MatMul(_pending, _z.AsSpan(row * _hidden, _hidden), 1);
        Embed(token, row);
    }

    public override void Child(int token, ReadOnlySpan<float> parentOutput, int row)
    {
        parentOutput.CopyTo(_z.AsSpan(row * _hidden, _hidden));
        Embed(token, row);
    }

    public override void Run(int rows, ReadOnlySpan<int> positions, ReadOnlySpan<int> parents, int pendingOffset) =>
        Layer.ForwardVectors(_z.AsSpan(0, rows * _hidden), positions, parents, pendingOffset, _e.AsSpan(0, rows * _hidden));

    public override void Logits(ReadOnlySpan<float> outputs, Span<float> logits, int rows)
    {
        int H = _hidden, D = _d.Config.DraftVocabSize, V = _d.Config.VocabSize;
        for (int r = 0; r < rows; r++) Norm.RmsNorm(outputs.Slice(r * H, H), _d.Norm, _normed.AsSpan(r * H, H), _d.Config.RmsNormEps);
        _d.Head.MatMul(_normed.AsSpan(0, rows * H), _draftLogits, rows);
        for (int r = 0; r < rows; r++)
        {
            Span<float> row = logits.Slice(r * V, V);
            if (D < V) row.Fill(float.NegativeInfinity);
            for (int d = 0; d < D; d++) row[_d.DraftToBase[d]] = _draftLogits[r * D + d];
        }
    }

    public override bool HasOwnBlank => _d.BlankRow is not null;

    public override float BlankLogit(ReadOnlySpan<float> output)
    {
        Span<float> normed = _normed.AsSpan(0, _hidden);
        Norm.RmsNorm(output, _d.Norm, normed, _d.Config.RmsNormEps);
        return TensorPrimitives.Dot(_d.BlankRow!, normed);
    }

    void Embed(int token, int row) => _d.Base.Weights.Embedding.ReadRow(token, _e.AsSpan(row * _hidden, _hidden));

    void RunCommitted(int rows)
    {
        _d.Fc.MatMul(_g.AsSpan(0, rows * _width), _z, rows);
        int L = Layer.Cache.Length;
        Run(rows, Enumerable.Range(L, rows).ToArray(), Enumerable.Range(-1, rows).ToArray(), 0);
        Layer.Cache.Advance(rows);
    }
}
