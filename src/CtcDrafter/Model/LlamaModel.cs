using CtcDrafter.Kernels;
using CtcDrafter.Text;

namespace CtcDrafter.Model;

/// <summary>
/// A LLaMA-family model loaded from a Hugging Face folder: config, weights in the chosen runtime format,
/// tokenizer and generation defaults.
/// </summary>
public sealed class LlamaModel : IDisposable
{
    /// <summary>The model folder, or the GGUF file, it was loaded from.</summary>
    public string Folder { get; }
    public ModelConfig Config { get; }
    public EngineOptions Options { get; }
    public GenerationDefaults Defaults { get; }
    /// <summary>The folder's tokenizer, or null when it has none (token ids only).</summary>
    public TextTokenizer? Tokenizer { get; }
    internal ModelWeights Weights { get; }

    LlamaModel(string folder, ModelConfig config, EngineOptions options, GenerationDefaults defaults, TextTokenizer? tokenizer, ModelWeights weights)
    {
        (Folder, Config, Options, Defaults, Tokenizer, Weights) = (folder, config, options, defaults, tokenizer, weights);
    }

    /// <summary>The Jinja chat template the model ships (tokenizer_config.json's, or the GGUF file's), if any.</summary>
    public string? ChatTemplateText { get; private init; }

    /// <summary>Loads a Hugging Face model folder or a GGUF file (<c>*.gguf</c>).</summary>
    /// <exception cref="ModelFormatException">The folder or file is missing, malformed or of an unsupported architecture.</exception>
    public static LlamaModel Load(string path, EngineOptions? options = null)
    {
        options ??= new EngineOptions();
        if (options.Threads > 0) WorkerPool.Configure(options.Threads);
        if (GgufModel.IsGguf(path)) return LoadGguf(path, options);
        if (!Directory.Exists(path)) throw new ModelFormatException(path, File.Exists(path) ? "not a model folder or a .gguf file" : "model folder not found");
        ModelConfig config = ModelConfig.Load(Path.Combine(path, "config.json"));
        GenerationDefaults defaults = GenerationDefaults.Load(path);
        if (defaults.EosTokenIds is { Count: > 0 } eos) config = config with { EosTokenIds = eos };
        TextTokenizer? tokenizer = HasTokenizer(path) ? LoadTokenizer(path) : null;
        CheckVocabulary(path, tokenizer, config);
        var weights = new ModelWeights(TensorStore.Open(path), config, options.Format);
        string? template;
        try { template = TokenizerConfig.TryRead(path)?.ChatTemplate; }
        catch (FormatException e) { weights.Dispose(); throw new ModelFormatException(path, e.Message); }
        return new LlamaModel(path, config, options, defaults, tokenizer, weights) { ChatTemplateText = template };
    }

    static LlamaModel LoadGguf(string file, EngineOptions options)
    {
        var gguf = new GgufFile(file);
        try
        {
            ModelConfig config = GgufModel.Config(gguf);
            TextTokenizer? tokenizer = GgufModel.Tokenizer(gguf);
            CheckVocabulary(file, tokenizer, config);
            var weights = new ModelWeights(new GgufStore(gguf, config, GgufModel.InterleavedQk(gguf)), config, options.Format);
            return new LlamaModel(file, config, options, new GenerationDefaults(), tokenizer, weights) { ChatTemplateText = GgufModel.ChatTemplate(gguf) };
        }
        catch
        {
            gguf.Dispose();
            throw;
        }
    }

    static void CheckVocabulary(string path, TextTokenizer? tokenizer, ModelConfig config)
    {
        if (tokenizer is not null && tokenizer.VocabSize > config.VocabSize)
            throw new ModelFormatException(path, $"the tokenizer has {tokenizer.VocabSize} tokens but the model's vocabulary is {config.VocabSize}");
    }

    static bool HasTokenizer(string folder) =>
        File.Exists(Path.Combine(folder, "tokenizer.model")) || File.Exists(Path.Combine(folder, "tokenizer.json"));

    static TextTokenizer LoadTokenizer(string folder)
    {
        try { return TextTokenizer.Load(folder); }
        catch (Exception e) when (e is FormatException or IOException or InvalidDataException or NotSupportedException)
        {
            throw new ModelFormatException(folder, $"tokenizer: {e.Message}");
        }
    }

    /// <summary>The context of a sequence when the options ask for none: the model's maximum, capped at this.</summary>
    public const int DefaultContext = 4096;

    /// <summary>
    /// Context length of a sequence (the KV cache's capacity): the option, capped by the model's maximum; by
    /// default min(model maximum, <see cref="DefaultContext"/>).
    /// </summary>
    public int ContextLength => Math.Min(Options.ContextLength > 0 ? Options.ContextLength : DefaultContext, Config.MaxContext);

    /// <summary>Bytes of the weights read per decoded token in the runtime format.</summary>
    public long DecodeWeightBytes => Weights.DecodeBytes;

    /// <summary>Bytes of all weights held in the runtime format (mapped or owned).</summary>
    public long RuntimeWeightBytes => Weights.RuntimeBytes;

    /// <summary>Logits of every position of a token sequence (one causal pass): [tokens.Length, vocab].</summary>
    public float[] SequenceLogits(IReadOnlyList<int> tokens) => Sequence(tokens, logits: true);

    /// <summary>Final post-norm hidden states (the LM head's input) of every position: [tokens.Length, hidden].</summary>
    public float[] SequenceHiddenStates(IReadOnlyList<int> tokens) => Sequence(tokens, logits: false);

    /// <summary>
    /// The base states <paramref name="features"/> (<see cref="BaseFeatures"/>) at every position of one causal pass,
    /// each row its sources one after another: [tokens.Length, sources * hidden]. They are the values a drafter
    /// reading those sources sees while decoding (a forward pass computes every row as it would alone).
    /// </summary>
    public float[] SequenceStates(IReadOnlyList<int> tokens, IReadOnlyList<int> features)
    {
        Generation.Session.CheckPrompt(tokens, Config.VocabSize, ContextLength + 1);
        var t = new Transformer(Weights.Stack, Config, ContextLength, Transformer.PrefillChunk, features: features);
        int w = features.Count * Config.HiddenSize;
        var result = new float[tokens.Count * w];
        t.Prefill([.. tokens], [], afterChunk: (start, n) => t.Features(0, n).CopyTo(result.AsSpan(start * w, n * w)));
        return result;
    }

    float[] Sequence(IReadOnlyList<int> tokens, bool logits)
    {
        Generation.Session.CheckPrompt(tokens, Config.VocabSize, ContextLength + 1);
        Transformer t = NewTransformer();
        int H = Config.HiddenSize;
        var result = new float[tokens.Count * (logits ? Config.VocabSize : H)];
        t.Prefill([.. tokens], logits ? result : [], allLogits: logits,
            afterChunk: logits ? null : (start, n) => t.Hidden(n).CopyTo(result.AsSpan(start * H, n * H)));
        return result;
    }

    /// <summary>The measured cost of verifying T tokens relative to one, T up to 32 at least (measured once, on first use).</summary>
    public Speculative.VerifyCostCurve VerifyCost => VerifyCostUpTo(32);

    /// <summary>
    /// The curve measured up to at least <paramref name="rows"/> rows (a batched pass verifies several trees),
    /// 128 at most (the cost grows linearly long before); measured again, once, when a longer one is asked for.
    /// </summary>
    internal Speculative.VerifyCostCurve VerifyCostUpTo(int rows)
    {
        int maxT = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Clamp(rows, 32, 128));
        lock (_verifyCostLock)
        {
            if (_verifyCost is null || _verifyCost.MaxT < maxT) _verifyCost = Speculative.VerifyCostCurve.Measure(this, maxT);
            return _verifyCost;
        }
    }
    Speculative.VerifyCostCurve? _verifyCost;
    readonly Lock _verifyCostLock = new();

    /// <summary>Whether <see cref="VerifyCost"/> has been measured yet.</summary>
    internal bool VerifyCostMeasured => Volatile.Read(ref _verifyCost) is not null;

    internal Transformer NewTransformer(int maxTokens = Transformer.PrefillChunk) => new(Weights.Stack, Config, ContextLength, maxTokens);

    /// <summary>A forward pass of up to <paramref name="maxRows"/> rows over sequences whose caches live elsewhere (<see cref="Transformer.Forward(IReadOnlyList{ForwardPart}, Span{float})"/>).</summary>
    /// <param name="features">The base states the pass keeps per row for the drafters (<see cref="BaseFeatures"/>).</param>
    internal Transformer NewPass(int maxRows, IReadOnlyList<int>? features = null) => new(Weights.Stack, Config, ContextLength, maxRows, ownCache: false, features);

    public void Dispose() => Weights.Dispose();
}
