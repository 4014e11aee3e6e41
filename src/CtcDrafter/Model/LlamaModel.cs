using CtcDrafter.Kernels;
using CtcDrafter.Text;

namespace CtcDrafter.Model;

/// <summary>
/// A LLaMA-family model loaded from a Hugging Face folder: config, weights in the chosen runtime format,
/// tokenizer and generation defaults.
/// </summary>
public sealed class LlamaModel : IDisposable
{
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

    /// <exception cref="ModelFormatException">The folder is missing, malformed or of an unsupported architecture.</exception>
    public static LlamaModel Load(string folder, EngineOptions? options = null)
    {
        options ??= new EngineOptions();
        if (!Directory.Exists(folder)) throw new ModelFormatException(folder, "model folder not found");
        if (options.Threads > 0) WorkerPool.Configure(options.Threads);
        ModelConfig config = ModelConfig.Load(Path.Combine(folder, "config.json"));
        GenerationDefaults defaults = GenerationDefaults.Load(folder);
        if (defaults.EosTokenIds is { Count: > 0 } eos) config = config with { EosTokenIds = eos };
        TextTokenizer? tokenizer = HasTokenizer(folder) ? LoadTokenizer(folder) : null;
        if (tokenizer is not null && tokenizer.VocabSize > config.VocabSize)
            throw new ModelFormatException(folder, $"the tokenizer has {tokenizer.VocabSize} tokens but config.json vocab_size is {config.VocabSize}");
        var weights = new ModelWeights(folder, config, options.Format);
        return new LlamaModel(folder, config, options, defaults, tokenizer, weights);
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

    /// <summary>Context length of a new sequence: the option, capped by the model's maximum.</summary>
    public int ContextLength => Options.ContextLength > 0 ? Math.Min(Options.ContextLength, Config.MaxContext) : Config.MaxContext;

    /// <summary>Bytes of the weights read per decoded token in the runtime format.</summary>
    public long DecodeWeightBytes => Weights.DecodeBytes;

    /// <summary>Bytes of all weights held in the runtime format (mapped or owned).</summary>
    public long RuntimeWeightBytes => Weights.RuntimeBytes;

    /// <summary>Logits of every position of a token sequence (one causal pass): [tokens.Length, vocab].</summary>
    public float[] SequenceLogits(IReadOnlyList<int> tokens) => Sequence(tokens, logits: true);

    /// <summary>Final post-norm hidden states (the LM head's input) of every position: [tokens.Length, hidden].</summary>
    public float[] SequenceHiddenStates(IReadOnlyList<int> tokens) => Sequence(tokens, logits: false);

    float[] Sequence(IReadOnlyList<int> tokens, bool logits)
    {
        Generation.Generator.CheckPrompt(tokens, Config.VocabSize, ContextLength + 1);
        Transformer t = NewTransformer();
        int width = logits ? Config.VocabSize : Config.HiddenSize;
        var result = new float[tokens.Count * width];
        for (int start = 0; start < tokens.Count; start += t.MaxTokens)
        {
            int n = Math.Min(t.MaxTokens, tokens.Count - start), L = t.Cache.Length;
            int[] ids = tokens.Skip(start).Take(n).ToArray();
            int[] rows = logits ? Enumerable.Range(0, n).ToArray() : [];
            t.Forward(ids, Enumerable.Range(L, n).ToArray(), Enumerable.Range(-1, n).ToArray(), rows,
                logits ? result.AsSpan(start * width, n * width) : []);
            if (!logits) t.Hidden(n).CopyTo(result.AsSpan(start * width, n * width));
            t.Cache.Advance(n);
        }
        return result;
    }

    /// <summary>The measured cost of verifying T tokens relative to one (measured once, on first use).</summary>
    public Speculative.VerifyCostCurve VerifyCost => _verifyCost ??= Speculative.VerifyCostCurve.Measure(this);
    Speculative.VerifyCostCurve? _verifyCost;

    internal Transformer NewTransformer(int maxTokens = 128) => new(Weights.Stack, Config, ContextLength, maxTokens);

    public void Dispose() => Weights.Dispose();
}
