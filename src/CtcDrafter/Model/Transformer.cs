using System.Buffers;
using System.Numerics.Tensors;
using CtcDrafter.Kernels;

namespace CtcDrafter.Model;

/// <summary>The layers a <see cref="Transformer"/> runs: a base model's, or a draft module's single layer.</summary>
/// <param name="Embedding">Token embedding [vocab, hidden], or null when the caller feeds vectors.</param>
/// <param name="FinalNorm">Final RMSNorm [hidden], or null for none (draft layers).</param>
/// <param name="LmHead">[vocab, hidden], or null when the caller computes its own logits from the hidden states.</param>
internal sealed record DecoderStack(WeightMatrix? Embedding, LayerWeights[] Layers, float[]? FinalNorm, WeightMatrix? LmHead);

/// <summary>
/// The forward pass of a LLaMA decoder over T new tokens at explicit positions, with a tree mask among them.
/// One instance owns the scratch buffers and the KV cache of one sequence. T = 1 is a decode step, T = prompt
/// length a prefill, and T = tree size a verification: all take the same path.
/// </summary>
internal sealed class Transformer
{
    public ModelConfig Config { get; }
    public KvCache Cache { get; }
    /// <summary>Largest T one <see cref="Forward"/> call accepts.</summary>
    public int MaxTokens { get; }

    /// <summary>Tokens per forward call of <see cref="Prefill"/> (fewer if <see cref="MaxTokens"/> is smaller).</summary>
    public const int PrefillChunk = 64;

    readonly DecoderStack _w;
    readonly RopeTable _rope;
    readonly float[] _x;       // [maxT, hidden]   residual stream
    readonly float[] _xn;      // [maxT, hidden]   normed input of a sublayer; after the last layer: final hidden states
    readonly float[] _q;       // [maxT, heads * headDim]
    readonly float[] _k;       // [maxT, kvHeads * headDim]
    readonly float[] _v;       // [maxT, kvHeads * headDim]
    readonly float[] _att;     // [maxT, heads * headDim]  attention output before o_proj
    readonly float[] _gate;    // [maxT, ffn]
    readonly float[] _up;      // [maxT, ffn]
    readonly float[] _rows;    // [maxT, hidden]   hidden states of the rows whose logits are asked for
    readonly int[] _visible;   // [maxT, maxT] pending slots each new token attends to
    readonly int[] _visibleCount; // [maxT]
    readonly int[] _pendingParents; // [maxT] parent (pending slot or -1) of each pending slot

    public Transformer(DecoderStack stack, ModelConfig config, int capacity, int maxTokens = 128)
    {
        (_w, Config, MaxTokens) = (stack, config, maxTokens);
        if (stack.Layers.Length != config.NumLayers) throw new ArgumentException($"{stack.Layers.Length} layers for a config of {config.NumLayers}");
        int h = config.HiddenSize, t = maxTokens;
        Cache = new KvCache(config.NumLayers, config.NumKvHeads, config.HeadDim, capacity);
        _rope = new RopeTable(config.HeadDim, capacity, config.InverseFrequencies());
        _x = new float[t * h];
        _xn = new float[t * h];
        _q = new float[t * config.QDim];
        _k = new float[t * config.KvDim];
        _v = new float[t * config.KvDim];
        _att = new float[t * config.QDim];
        _gate = new float[t * config.IntermediateSize];
        _up = new float[t * config.IntermediateSize];
        _rows = new float[t * h];
        _visible = new int[t * t];
        _visibleCount = new int[t];
        _pendingParents = new int[t];
    }

    /// <summary>Final hidden states of the last forward call (after the final norm, if any): [T, hidden].</summary>
    public ReadOnlySpan<float> Hidden(int tokens) => _xn.AsSpan(0, tokens * Config.HiddenSize);

    /// <summary>
    /// Runs T = tokens.Length new tokens. Token i sits at RoPE position <c>positions[i]</c>, attends to every
    /// committed slot and to itself and its ancestors among the new tokens (<c>parents[i]</c> &lt; i, or -1).
    /// Their K/V go to pending cache slots Length + i (commit them with <see cref="KvCache.Commit"/>).
    /// Logits of the new tokens listed in <paramref name="logitRows"/> are written to
    /// <paramref name="logits"/> [logitRows.Length, vocab].
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, ReadOnlySpan<int> positions, ReadOnlySpan<int> parents,
        ReadOnlySpan<int> logitRows, Span<float> logits)
    {
        int T = tokens.Length, H = Config.HiddenSize;
        if (_w.Embedding is null) throw new InvalidOperationException("this decoder has no embedding: feed vectors");
        if (T == 0 || T > MaxTokens) throw new ArgumentOutOfRangeException(nameof(tokens), $"{T} tokens (1..{MaxTokens})");
        for (int i = 0; i < T; i++)
        {
            if ((uint)tokens[i] >= (uint)Config.VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {tokens[i]} outside the vocabulary of {Config.VocabSize}");
            _w.Embedding.ReadRow(tokens[i], _x.AsSpan(i * H, H));
        }
        Run(T, 0, positions, parents, logitRows, logits);
    }

    /// <summary>
    /// Runs a token sequence into the cache in causal chunks and commits it. The chunk size changes nothing but
    /// speed: every row of a forward call computes exactly as it would alone, and every token attends to the
    /// slots before it in position order, so the cache and the logits are bitwise those of one token at a time.
    /// <paramref name="logits"/> receives the last token's logits [vocab] (empty: none), or with
    /// <paramref name="allLogits"/> every token's [ids.Length, vocab]; after each chunk of n tokens starting at
    /// start, <paramref name="afterChunk"/>(start, n) may read their <see cref="Hidden"/> states.
    /// </summary>
    public void Prefill(ReadOnlySpan<int> ids, Span<float> logits, bool allLogits = false, Action<int, int>? afterChunk = null, int chunk = PrefillChunk)
    {
        int V = Config.VocabSize;
        chunk = Math.Clamp(chunk, 1, MaxTokens);
        var positions = new int[chunk];
        var parents = new int[chunk];
        var rows = new int[chunk];
        for (int start = 0; start < ids.Length; start += chunk)
        {
            int n = Math.Min(chunk, ids.Length - start), L = Cache.Length;
            for (int i = 0; i < n; i++) (positions[i], parents[i], rows[i]) = (L + i, i - 1, i);
            bool last = start + n == ids.Length;
            ReadOnlySpan<int> logitRows = allLogits ? rows.AsSpan(0, n) : last && !logits.IsEmpty ? rows.AsSpan(n - 1, 1) : [];
            Forward(ids.Slice(start, n), positions.AsSpan(0, n), parents.AsSpan(0, n), logitRows,
                allLogits ? logits.Slice(start * V, n * V) : logits);
            Cache.Advance(n);
            afterChunk?.Invoke(start, n);
        }
    }

    /// <summary>The same pass over input vectors instead of token ids: inputs [T, hidden].</summary>
    public void ForwardVectors(ReadOnlySpan<float> inputs, ReadOnlySpan<int> positions, ReadOnlySpan<int> parents,
        ReadOnlySpan<int> logitRows, Span<float> logits)
    {
        LoadVectors(inputs);
        Run(inputs.Length / Config.HiddenSize, 0, positions, parents, logitRows, logits);
    }

    /// <summary>
    /// One more level of a tree grown over several calls at the same committed length: the T input vectors go
    /// to pending slots <paramref name="pendingOffset"/> .. + T - 1, and <c>parents[i]</c> names an earlier
    /// pending slot (&lt; pendingOffset + i) or -1. Earlier calls' pending slots keep their K/V, so each vector
    /// attends to the committed cache, itself and its ancestors among all pending slots. Hidden states only.
    /// </summary>
    public void ForwardVectors(ReadOnlySpan<float> inputs, ReadOnlySpan<int> positions, ReadOnlySpan<int> parents, int pendingOffset)
    {
        LoadVectors(inputs);
        Run(inputs.Length / Config.HiddenSize, pendingOffset, positions, parents, [], []);
    }

    void LoadVectors(ReadOnlySpan<float> inputs)
    {
        int H = Config.HiddenSize, T = inputs.Length / H;
        if (T == 0 || T > MaxTokens || inputs.Length != T * H) throw new ArgumentOutOfRangeException(nameof(inputs), $"{inputs.Length} values is not 1..{MaxTokens} rows of {H}");
        inputs.CopyTo(_x);
    }

    void Run(int T, int pendingOffset, ReadOnlySpan<int> positions, ReadOnlySpan<int> parents, ReadOnlySpan<int> logitRows, Span<float> logits)
    {
        int H = Config.HiddenSize, V = Config.VocabSize;
        if (positions.Length != T || parents.Length != T) throw new ArgumentException("positions and parents must have one entry per token");
        if (pendingOffset < 0 || pendingOffset + T > MaxTokens) throw new ArgumentOutOfRangeException(nameof(pendingOffset), $"pending slots {pendingOffset}..{pendingOffset + T - 1} beyond {MaxTokens}");
        if (Cache.Length + pendingOffset + T > Cache.Capacity) throw new InvalidOperationException($"context of {Cache.Capacity} tokens exceeded");
        if (logitRows.Length > 0 && _w.LmHead is null) throw new InvalidOperationException("this decoder has no LM head");
        if (logits.Length < logitRows.Length * V) throw new ArgumentException("logits buffer too small", nameof(logits));
        foreach (int p in positions)
            if ((uint)p >= (uint)_rope.MaxPositions) throw new ArgumentOutOfRangeException(nameof(positions), $"position {p} beyond the context");
        BuildVisibility(parents, pendingOffset);

        for (int l = 0; l < _w.Layers.Length; l++)
        {
            LayerWeights lw = _w.Layers[l];
            // Attention block: x += Wo · attn(rope(Wq·n(x)), rope(Wk·n(x)), Wv·n(x)); draft layers have no input norm.
            if (lw.AttnNorm is null) _x.AsSpan(0, T * H).CopyTo(_xn);
            else for (int i = 0; i < T; i++) Norm.RmsNorm(_x.AsSpan(i * H, H), lw.AttnNorm, _xn.AsSpan(i * H, H), Config.RmsNormEps);
            lw.Wq.MatMul(_xn.AsSpan(0, T * H), _q, T);
            lw.Wk.MatMul(_xn.AsSpan(0, T * H), _k, T);
            lw.Wv.MatMul(_xn.AsSpan(0, T * H), _v, T);
            if (lw.Bq is not null) AddBiases(lw, T);
            for (int i = 0; i < T; i++)
            {
                _rope.Apply(_q.AsSpan(i * Config.QDim, Config.QDim), positions[i]);
                _rope.Apply(_k.AsSpan(i * Config.KvDim, Config.KvDim), positions[i]);
                StoreKv(l, i, pendingOffset + i);
            }
            Attend(l, T);
            lw.Wo.MatMul(_att.AsSpan(0, T * Config.QDim), _xn, T);
            TensorPrimitives.Add(_x.AsSpan(0, T * H), _xn.AsSpan(0, T * H), _x.AsSpan(0, T * H));

            // MLP block: x += Down · (silu(Gate·n(x)) * Up·n(x))
            for (int i = 0; i < T; i++) Norm.RmsNorm(_x.AsSpan(i * H, H), lw.MlpNorm, _xn.AsSpan(i * H, H), Config.RmsNormEps);
            int F = Config.IntermediateSize;
            lw.Gate.MatMul(_xn.AsSpan(0, T * H), _gate, T);
            lw.Up.MatMul(_xn.AsSpan(0, T * H), _up, T);
            for (int i = 0; i < T; i++) Activations.SwiGlu(_gate.AsSpan(i * F, F), _up.AsSpan(i * F, F));
            lw.Down.MatMul(_gate.AsSpan(0, T * F), _xn, T);
            TensorPrimitives.Add(_x.AsSpan(0, T * H), _xn.AsSpan(0, T * H), _x.AsSpan(0, T * H));
        }

        if (_w.FinalNorm is null) _x.AsSpan(0, T * H).CopyTo(_xn);
        else for (int i = 0; i < T; i++) Norm.RmsNorm(_x.AsSpan(i * H, H), _w.FinalNorm, _xn.AsSpan(i * H, H), Config.RmsNormEps);
        if (logitRows.Length == 0) return;
        for (int r = 0; r < logitRows.Length; r++)
        {
            if ((uint)logitRows[r] >= (uint)T) throw new ArgumentOutOfRangeException(nameof(logitRows));
            _xn.AsSpan(logitRows[r] * H, H).CopyTo(_rows.AsSpan(r * H, H));
        }
        _w.LmHead!.MatMul(_rows.AsSpan(0, logitRows.Length * H), logits[..(logitRows.Length * V)], logitRows.Length);
    }

    /// <summary>
    /// visible[i] = the pending slots new token i attends to, in position order: its ancestors from the root down,
    /// then itself. That is the order in which plain decoding finds the same keys in the cache (the committed
    /// prefix, then the path, the new token last), so a tree node's attention sums run exactly as plain decoding's.
    /// </summary>
    void BuildVisibility(ReadOnlySpan<int> parents, int pendingOffset)
    {
        for (int i = 0; i < parents.Length; i++)
        {
            int slot = pendingOffset + i;
            if (parents[i] < -1 || parents[i] >= slot)
                throw new ArgumentException($"parents[{i}] = {parents[i]}: a parent must be an earlier token or -1", nameof(parents));
            _pendingParents[slot] = parents[i];
            Span<int> visible = _visible.AsSpan(i * MaxTokens, MaxTokens);
            int n = 0;
            for (int j = slot; j >= 0; j = _pendingParents[j]) visible[n++] = j;
            visible[..n].Reverse();
            _visibleCount[i] = n;
        }
    }

    /// <summary>K/V of new token i (row of _k, _v) into pending slot <paramref name="pending"/>.</summary>
    void StoreKv(int layer, int i, int pending)
    {
        int hd = Config.HeadDim, slot = Cache.Length + pending;
        for (int g = 0; g < Config.NumKvHeads; g++)
        {
            _k.AsSpan(i * Config.KvDim + g * hd, hd).CopyTo(Cache.Key(layer, g, slot));
            _v.AsSpan(i * Config.KvDim + g * hd, hd).CopyTo(Cache.Value(layer, g, slot));
        }
    }

    // q [T, QDim] += bq, k and v [T, KvDim] += bk, bv
    void AddBiases(LayerWeights lw, int T)
    {
        for (int i = 0; i < T; i++)
        {
            Span<float> q = _q.AsSpan(i * Config.QDim, Config.QDim), k = _k.AsSpan(i * Config.KvDim, Config.KvDim), v = _v.AsSpan(i * Config.KvDim, Config.KvDim);
            TensorPrimitives.Add(q, lw.Bq, q);
            TensorPrimitives.Add(k, lw.Bk!, k);
            TensorPrimitives.Add(v, lw.Bv!, v);
        }
    }

    void Attend(int layer, int T)
    {
        var body = new AttentionChunk(this, layer);
        WorkerPool.Shared.For(T * Config.NumHeads, 1, ref body);
    }

    readonly struct AttentionChunk(Transformer t, int layer) : IChunkBody
    {
        public void Run(int start, int end)
        {
            float[] scores = ArrayPool<float>.Shared.Rent(t.Cache.Length + t.MaxTokens);
            for (int item = start; item < end; item++) t.AttendOne(layer, item / t.Config.NumHeads, item % t.Config.NumHeads, scores);
            ArrayPool<float>.Shared.Return(scores);
        }
    }

    /// <summary>
    /// _att[i, head] = softmax(q·K^T / sqrt(d)) · V over the committed slots (one run) and token i's visible
    /// pending slots (runs of consecutive slots: a prefill chunk's tokens see one run, a tree node its path).
    /// </summary>
    void AttendOne(int layer, int i, int head, float[] scoreBuf)
    {
        int hd = Config.HeadDim, L = Cache.Length, g = head / (Config.NumHeads / Config.NumKvHeads);
        ReadOnlySpan<int> visible = _visible.AsSpan(i * MaxTokens, _visibleCount[i]);
        float scale = 1f / MathF.Sqrt(hd);
        ReadOnlySpan<float> q = _q.AsSpan(i * Config.QDim + head * hd, hd);
        Span<float> scores = scoreBuf.AsSpan(0, L + visible.Length);
        Attention.Scores(q, Cache.Keys(layer, g, 0, L), scale, scores[..L]);
        for (int n = 0, run; n < visible.Length; n += run)
        {
            run = RunLength(visible, n);
            Attention.Scores(q, Cache.Keys(layer, g, L + visible[n], run), scale, scores.Slice(L + n, run));
        }
        Activations.Softmax(scores);

        Span<float> o = _att.AsSpan(i * Config.QDim + head * hd, hd);
        o.Clear();
        Attention.AccumulateValues(scores[..L], Cache.Values(layer, g, 0, L), o);
        for (int n = 0, run; n < visible.Length; n += run)
        {
            run = RunLength(visible, n);
            Attention.AccumulateValues(scores.Slice(L + n, run), Cache.Values(layer, g, L + visible[n], run), o);
        }
    }

    // How many of visible[n..] are consecutive slots.
    static int RunLength(ReadOnlySpan<int> visible, int n)
    {
        int run = 1;
        while (n + run < visible.Length && visible[n + run] == visible[n] + run) run++;
        return run;
    }
}

