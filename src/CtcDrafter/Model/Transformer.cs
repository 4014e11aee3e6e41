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
/// One sequence's rows in a batched forward pass (<see cref="Transformer.Forward(IReadOnlyList{ForwardPart}, Span{float})"/>):
/// T new tokens, token i at RoPE position <c>Positions[i]</c>, attending to the committed slots of its own
/// <paramref name="Cache"/> and to itself and its ancestors among the part's tokens (<c>Parents[i]</c> &lt; i, or
/// -1), its K/V written to that cache's pending slot Length + i. Rows <paramref name="LogitsFrom"/> .. T - 1 get logits
/// (0: every row, as a verification; T - 1: the last, as a prompt's last chunk; T: none).
/// </summary>
internal sealed record ForwardPart(KvCache Cache, int[] Tokens, int[] Positions, int[] Parents, int LogitsFrom)
{
    public int Rows => Tokens.Length;
    public int LogitRows => Rows - LogitsFrom;
}

/// <summary>
/// The forward pass of a LLaMA decoder over T new tokens at explicit positions, with a tree mask among them.
/// One instance owns the scratch buffers of T rows and, unless made for batches, the KV cache of one sequence.
/// T = 1 is a decode step, T = prompt length a prefill, and T = tree size a verification: all take the same path.
/// A batched pass runs the rows of several sequences, each with its own cache: every row computes exactly what it
/// computes alone (the matrix kernels give row t of a T-row product bitwise as a one-row product, and each row's
/// attention reads only its own sequence's slots), so a sequence's tokens never depend on what else is in the batch.
/// </summary>
internal sealed class Transformer
{
    public ModelConfig Config { get; }
    /// <summary>The sequence's KV cache (capacity 0 for an instance made for batched passes).</summary>
    public KvCache Cache { get; }
    /// <summary>Largest T one forward call accepts.</summary>
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
    readonly int[] _positions; // [maxT] RoPE position of each row
    readonly KvCache[] _cacheOf; // [maxT] the cache each row reads and writes
    readonly int[] _slotOf;    // [maxT] each row's pending slot in its cache (after Length)
    readonly int[] _visible;   // [maxT, maxT] pending slots each row attends to
    readonly int[] _visibleCount; // [maxT]
    readonly int[] _pendingParents; // [maxT] parent (pending slot or -1) of each pending slot, offset by its part's first row
    readonly int[] _sources;   // the base states kept per row (BaseFeatures): layer inputs, or the final hidden state
    readonly float[]? _features; // [maxT, sources * hidden] those states, when they are not just the final hidden state
    readonly float[]? _e;      // [maxT, hidden]   token embeddings fed beside the vectors (EAGLE-3 draft layer)
    readonly float[]? _xn2;    // [maxT, 2 * hidden] its attention input [EmbedNorm(e); AttnNorm(x)]
    int _longest;              // the longest committed cache among the rows of the current pass

    /// <param name="capacity">Positions the sequence may hold (the context).</param>
    /// <param name="ownCache">False for an instance that only runs batched passes over other caches.</param>
    /// <param name="features">The base states <see cref="Features"/> keeps for each row (<see cref="BaseFeatures"/>); the final hidden state by default.</param>
    public Transformer(DecoderStack stack, ModelConfig config, int capacity, int maxTokens = 128, bool ownCache = true,
        IReadOnlyList<int>? features = null)
    {
        (_w, Config, MaxTokens) = (stack, config, maxTokens);
        if (stack.Layers.Length != config.NumLayers) throw new ArgumentException($"{stack.Layers.Length} layers for a config of {config.NumLayers}");
        _sources = [.. features ?? BaseFeatures.FinalOnly];
        BaseFeatures.Check(_sources, config.NumLayers);
        int h = config.HiddenSize, t = maxTokens;
        Cache = NewCache(config, ownCache ? capacity : 0);
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
        _positions = new int[t];
        _cacheOf = new KvCache[t];
        _slotOf = new int[t];
        _visible = new int[t * t];
        _visibleCount = new int[t];
        _pendingParents = new int[t];
        if (!_sources.SequenceEqual(BaseFeatures.FinalOnly)) _features = new float[t * _sources.Length * h];
        if (stack.Layers.Any(l => l.EmbedNorm is not null)) (_e, _xn2) = (new float[t * h], new float[t * 2 * h]);
    }

    /// <summary>An empty KV cache of <paramref name="capacity"/> positions for this decoder's shape.</summary>
    public static KvCache NewCache(ModelConfig config, int capacity) => new(config.NumLayers, config.NumKvHeads, config.HeadDim, capacity);

    /// <summary>Final hidden states of the last forward call (after the final norm, if any): [T, hidden].</summary>
    public ReadOnlySpan<float> Hidden(int tokens) => _xn.AsSpan(0, tokens * Config.HiddenSize);

    /// <summary>Final hidden states of rows first .. first + count - 1 of the last forward call: [count, hidden].</summary>
    public ReadOnlySpan<float> Hidden(int first, int count) => _xn.AsSpan(first * Config.HiddenSize, count * Config.HiddenSize);

    /// <summary>The base states this pass keeps per row, in the order of <see cref="Features"/>'s columns.</summary>
    public IReadOnlyList<int> FeatureSources => _sources;

    /// <summary>
    /// The kept base states of rows first .. first + count - 1 of the last forward call, each row its sources one after
    /// another: [count, sources * hidden].
    /// </summary>
    public ReadOnlySpan<float> Features(int first, int count)
    {
        int w = _sources.Length * Config.HiddenSize;
        return _features is null ? Hidden(first, count) : _features.AsSpan(first * w, count * w);
    }

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
        Embed(tokens, 0);
        _longest = 0;
        Place(0, Cache, tokens.Length, 0, positions, parents);
        Run(tokens.Length, logitRows, logits);
    }

    /// <summary>
    /// One pass over the rows of several sequences, part after part; each part's rows attend only to its own cache
    /// and its own tokens. <paramref name="logits"/> receives each part's logit rows in order:
    /// [sum of <see cref="ForwardPart.LogitRows"/>, vocab]. The caller commits each part's pending slots in its cache.
    /// </summary>
    public void Forward(IReadOnlyList<ForwardPart> parts, Span<float> logits)
    {
        int T = 0, n = 0;
        foreach (ForwardPart p in parts) (T, n) = (T + p.Rows, n + p.LogitRows);
        if (T == 0 || T > MaxTokens) throw new ArgumentOutOfRangeException(nameof(parts), $"{T} rows (1..{MaxTokens})");
        Span<int> logitRows = n <= 1024 ? stackalloc int[n] : new int[n];
        _longest = 0;
        for (int i = 0, row = 0, r = 0; i < parts.Count; row += parts[i].Rows, i++)
        {
            ForwardPart p = parts[i];
            if (p.Positions.Length != p.Rows || p.Parents.Length != p.Rows) throw new ArgumentException($"part {i}: positions and parents must have one entry per token");
            if (p.LogitsFrom < 0 || p.LogitsFrom > p.Rows) throw new ArgumentOutOfRangeException(nameof(parts), $"part {i}: logits from row {p.LogitsFrom} of {p.Rows}");
            if (parts.Take(i).Any(q => q.Cache == p.Cache)) throw new ArgumentException($"part {i}: two parts of one pass write the same cache");
            Embed(p.Tokens, row);
            Place(row, p.Cache, p.Rows, 0, p.Positions, p.Parents);
            for (int j = p.LogitsFrom; j < p.Rows; j++) logitRows[r++] = row + j;
        }
        Run(T, logitRows, logits);
    }

    /// <summary>
    /// Runs a token sequence into the cache in causal chunks and commits it. The chunk size changes nothing but
    /// speed: every row of a forward call computes exactly as it would alone, and every token attends to the
    /// slots before it in position order, so the cache and the logits are bitwise those of one token at a time.
    /// <paramref name="logits"/> receives the last token's logits [vocab] (empty: none), or with
    /// <paramref name="allLogits"/> every token's [ids.Length, vocab]; after each chunk of n tokens starting at
    /// start, <paramref name="afterChunk"/>(start, n) may read their <see cref="Hidden(int)"/> states.
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
        int T = LoadVectors(inputs);
        if (_e is not null) throw new InvalidOperationException("an EAGLE-3 layer needs the tokens' embeddings beside its vectors");
        _longest = 0;
        Place(0, Cache, T, 0, positions, parents);
        Run(T, logitRows, logits);
    }

    /// <summary>
    /// One more level of a tree grown over several calls at the same committed length: the T input vectors go
    /// to pending slots <paramref name="pendingOffset"/> .. + T - 1, and <c>parents[i]</c> names an earlier
    /// pending slot (&lt; pendingOffset + i) or -1. Earlier calls' pending slots keep their K/V, so each vector
    /// attends to the committed cache, itself and its ancestors among all pending slots. Hidden states only.
    /// An EAGLE-3 draft layer also takes each row's token embedding, <paramref name="embeddings"/> [T, hidden].
    /// </summary>
    public void ForwardVectors(ReadOnlySpan<float> inputs, ReadOnlySpan<int> positions, ReadOnlySpan<int> parents, int pendingOffset,
        ReadOnlySpan<float> embeddings = default)
    {
        int T = LoadVectors(inputs);
        if (_e is not null)
        {
            if (embeddings.Length != inputs.Length) throw new ArgumentException($"an EAGLE-3 layer needs one embedding per input vector: {embeddings.Length} values for {inputs.Length}", nameof(embeddings));
            embeddings.CopyTo(_e);
        }
        else if (!embeddings.IsEmpty) throw new ArgumentException("this decoder takes no embeddings beside its vectors", nameof(embeddings));
        _longest = 0;
        Place(0, Cache, T, pendingOffset, positions, parents);
        Run(T, [], []);
    }

    // _x rows first .. first + T - 1 = the tokens' embeddings.
    void Embed(ReadOnlySpan<int> tokens, int first)
    {
        int H = Config.HiddenSize;
        if (_w.Embedding is null) throw new InvalidOperationException("this decoder has no embedding: feed vectors");
        if (tokens.Length == 0 || first + tokens.Length > MaxTokens) throw new ArgumentOutOfRangeException(nameof(tokens), $"{first + tokens.Length} tokens (1..{MaxTokens})");
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)Config.VocabSize) throw new ArgumentOutOfRangeException(nameof(tokens), $"token id {tokens[i]} outside the vocabulary of {Config.VocabSize}");
            _w.Embedding.ReadRow(tokens[i], _x.AsSpan((first + i) * H, H));
        }
    }

    int LoadVectors(ReadOnlySpan<float> inputs)
    {
        int H = Config.HiddenSize, T = inputs.Length / H;
        if (T == 0 || T > MaxTokens || inputs.Length != T * H) throw new ArgumentOutOfRangeException(nameof(inputs), $"{inputs.Length} values is not 1..{MaxTokens} rows of {H}");
        inputs.CopyTo(_x);
        return T;
    }

    /// <summary>
    /// Rows first .. first + T - 1 of the pass belong to one sequence with <paramref name="cache"/>: their positions,
    /// pending slots (pendingOffset + i) and visibility. A batched part (first &gt; 0) starts its tree at slot 0.
    /// </summary>
    void Place(int first, KvCache cache, int T, int pendingOffset, ReadOnlySpan<int> positions, ReadOnlySpan<int> parents)
    {
        if (positions.Length != T || parents.Length != T) throw new ArgumentException("positions and parents must have one entry per token");
        if (pendingOffset < 0 || first + pendingOffset + T > MaxTokens || (first > 0 && pendingOffset > 0))
            throw new ArgumentOutOfRangeException(nameof(pendingOffset), $"pending slots {pendingOffset}..{pendingOffset + T - 1} beyond {MaxTokens}");
        if (cache.Length + pendingOffset + T > cache.Capacity) throw new InvalidOperationException($"context of {cache.Capacity} tokens exceeded");
        foreach (int p in positions)
            if ((uint)p >= (uint)_rope.MaxPositions) throw new ArgumentOutOfRangeException(nameof(positions), $"position {p} beyond the context");
        _longest = Math.Max(_longest, cache.Length);
        for (int i = 0; i < T; i++)
        {
            int row = first + i, slot = pendingOffset + i;
            (_positions[row], _cacheOf[row], _slotOf[row]) = (positions[i], cache, slot);
            if (parents[i] < -1 || parents[i] >= slot)
                throw new ArgumentException($"parents[{i}] = {parents[i]}: a parent must be an earlier token or -1", nameof(parents));
            _pendingParents[first + slot] = parents[i];
            BuildVisibility(row, first);
        }
    }

    /// <summary>
    /// visible[row] = the pending slots the row attends to, in position order: its ancestors from the root down,
    /// then itself. That is the order in which plain decoding finds the same keys in the cache (the committed
    /// prefix, then the path, the new token last), so a tree node's attention sums run exactly as plain decoding's.
    /// </summary>
    void BuildVisibility(int row, int first)
    {
        Span<int> visible = _visible.AsSpan(row * MaxTokens, MaxTokens);
        int n = 0;
        for (int j = _slotOf[row]; j >= 0; j = _pendingParents[first + j]) visible[n++] = j;
        visible[..n].Reverse();
        _visibleCount[row] = n;
    }

    void Run(int T, ReadOnlySpan<int> logitRows, Span<float> logits)
    {
        int H = Config.HiddenSize, V = Config.VocabSize;
        if (logitRows.Length > 0 && _w.LmHead is null) throw new InvalidOperationException("this decoder has no LM head");
        if (logits.Length < logitRows.Length * V) throw new ArgumentException("logits buffer too small", nameof(logits));

        for (int l = 0; l < _w.Layers.Length; l++)
        {
            LayerWeights lw = _w.Layers[l];
            Keep(l, T, _x);
            // Attention block: x += Wo · attn(rope(Wq·a), rope(Wk·a), Wv·a) with a = n(x); draft layers have no input
            // norm (a = x), and an EAGLE-3 draft layer's a = [n_e(embedding); n(x)].
            ReadOnlySpan<float> a = AttentionInput(lw, T);
            WeightMatrix.MatMulShared(a, T, lw.Wq, _q, lw.Wk, _k, lw.Wv, _v);
            if (lw.Bq is not null) AddBiases(lw, T);
            for (int i = 0; i < T; i++)
            {
                _rope.Apply(_q.AsSpan(i * Config.QDim, Config.QDim), _positions[i]);
                _rope.Apply(_k.AsSpan(i * Config.KvDim, Config.KvDim), _positions[i]);
                StoreKv(l, i);
            }
            Attend(l, T);
            lw.Wo.MatMul(_att.AsSpan(0, T * Config.QDim), _xn, T);
            TensorPrimitives.Add(_x.AsSpan(0, T * H), _xn.AsSpan(0, T * H), _x.AsSpan(0, T * H));

            // MLP block: x += Down · (silu(Gate·n(x)) * Up·n(x))
            for (int i = 0; i < T; i++) Norm.RmsNorm(_x.AsSpan(i * H, H), lw.MlpNorm, _xn.AsSpan(i * H, H), Config.RmsNormEps);
            int F = Config.IntermediateSize;
            WeightMatrix.MatMulShared(_xn.AsSpan(0, T * H), T, lw.Gate, _gate, lw.Up, _up);
            MlpActivation(T);
            lw.Down.MatMul(_gate.AsSpan(0, T * F), _xn, T);
            TensorPrimitives.Add(_x.AsSpan(0, T * H), _xn.AsSpan(0, T * H), _x.AsSpan(0, T * H));
        }

        if (_w.FinalNorm is null) _x.AsSpan(0, T * H).CopyTo(_xn);
        else for (int i = 0; i < T; i++) Norm.RmsNorm(_x.AsSpan(i * H, H), _w.FinalNorm, _xn.AsSpan(i * H, H), Config.RmsNormEps);
        Keep(BaseFeatures.Final, T, _xn);
        if (logitRows.Length == 0) return;
        for (int r = 0; r < logitRows.Length; r++)
        {
            if ((uint)logitRows[r] >= (uint)T) throw new ArgumentOutOfRangeException(nameof(logitRows));
            _xn.AsSpan(logitRows[r] * H, H).CopyTo(_rows.AsSpan(r * H, H));
        }
        _w.LmHead!.MatMul(_rows.AsSpan(0, logitRows.Length * H), logits[..(logitRows.Length * V)], logitRows.Length);
    }

    // The rows' attention input [T, hidden] (or [T, 2 * hidden] in an EAGLE-3 draft layer).
    ReadOnlySpan<float> AttentionInput(LayerWeights lw, int T)
    {
        int H = Config.HiddenSize;
        if (lw.EmbedNorm is not null)
        {
            for (int i = 0; i < T; i++)
            {
                Norm.RmsNorm(_e.AsSpan(i * H, H), lw.EmbedNorm, _xn2.AsSpan(i * 2 * H, H), Config.RmsNormEps);
                Norm.RmsNorm(_x.AsSpan(i * H, H), lw.AttnNorm, _xn2.AsSpan(i * 2 * H + H, H), Config.RmsNormEps);
            }
            return _xn2.AsSpan(0, T * 2 * H);
        }
        if (lw.AttnNorm is null) _x.AsSpan(0, T * H).CopyTo(_xn);
        else for (int i = 0; i < T; i++) Norm.RmsNorm(_x.AsSpan(i * H, H), lw.AttnNorm, _xn.AsSpan(i * H, H), Config.RmsNormEps);
        return _xn.AsSpan(0, T * H);
    }

    // Copies the T rows of `state` [T, hidden] into the kept features' column of each source equal to `source`.
    void Keep(int source, int T, float[] state)
    {
        if (_features is null) return;
        int H = Config.HiddenSize, w = _sources.Length * H;
        for (int s = 0; s < _sources.Length; s++)
            if (_sources[s] == source)
                for (int i = 0; i < T; i++) state.AsSpan(i * H, H).CopyTo(_features.AsSpan(i * w + s * H, H));
    }

    /// <summary>K/V of row i (of _k, _v) into its pending slot of its cache.</summary>
    void StoreKv(int layer, int i)
    {
        int hd = Config.HeadDim;
        KvCache cache = _cacheOf[i];
        int slot = cache.Length + _slotOf[i];
        for (int g = 0; g < Config.NumKvHeads; g++)
        {
            _k.AsSpan(i * Config.KvDim + g * hd, hd).CopyTo(cache.Key(layer, g, slot));
            _v.AsSpan(i * Config.KvDim + g * hd, hd).CopyTo(cache.Value(layer, g, slot));
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

    /// <summary>_gate [T, F] = silu(_gate) * _up, the threads taking whole rows (a row computes alike wherever it runs).</summary>
    void MlpActivation(int T)
    {
        var body = new MlpActivationChunk(this);
        WorkerPool.Shared.For(T, 1, ref body);
    }

    readonly struct MlpActivationChunk(Transformer t) : IChunkBody
    {
        public void Run(int start, int end)
        {
            int F = t.Config.IntermediateSize;
            for (int i = start; i < end; i++) Activations.SwiGlu(t._gate.AsSpan(i * F, F), t._up.AsSpan(i * F, F));
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
            float[] scores = ArrayPool<float>.Shared.Rent(t._longest + t.MaxTokens);
            for (int item = start; item < end; item++) t.AttendOne(layer, item / t.Config.NumHeads, item % t.Config.NumHeads, scores);
            ArrayPool<float>.Shared.Return(scores);
        }
    }

    /// <summary>
    /// _att[i, head] = softmax(q·K^T / sqrt(d)) · V over the committed slots of row i's cache (one run) and its
    /// visible pending slots (runs of consecutive slots: a prefill chunk's tokens see one run, a tree node its path).
    /// </summary>
    void AttendOne(int layer, int i, int head, float[] scoreBuf)
    {
        KvCache cache = _cacheOf[i];
        int hd = Config.HeadDim, L = cache.Length, g = head / (Config.NumHeads / Config.NumKvHeads);
        ReadOnlySpan<int> visible = _visible.AsSpan(i * MaxTokens, _visibleCount[i]);
        float scale = 1f / MathF.Sqrt(hd);
        ReadOnlySpan<float> q = _q.AsSpan(i * Config.QDim + head * hd, hd);
        Span<float> scores = scoreBuf.AsSpan(0, L + visible.Length);
        Attention.Scores(q, cache.Keys(layer, g, 0, L), scale, scores[..L]);
        for (int n = 0, run; n < visible.Length; n += run)
        {
            run = RunLength(visible, n);
            Attention.Scores(q, cache.Keys(layer, g, L + visible[n], run), scale, scores.Slice(L + n, run));
        }
        Activations.Softmax(scores);

        Span<float> o = _att.AsSpan(i * Config.QDim + head * hd, hd);
        o.Clear();
        Attention.AccumulateValues(scores[..L], cache.Values(layer, g, 0, L), o);
        for (int n = 0, run; n < visible.Length; n += run)
        {
            run = RunLength(visible, n);
            Attention.AccumulateValues(scores.Slice(L + n, run), cache.Values(layer, g, L + visible[n], run), o);
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

