using System.Text.RegularExpressions;

namespace CtcDrafter.Text;

/// <summary>
/// The regexes that cut text into chunks before byte-level BPE merges each chunk on its own: GPT-2's, and those a
/// GGUF file names by <c>tokenizer.ggml.pre</c>, the way llama.cpp reads that name (the patterns are those of the
/// models' own tokenizer.json files). Each regex of a list splits every chunk the previous one left, keeping its
/// matches and the text between them.
/// </summary>
internal sealed record ByteLevelPreTokenizer(Regex[] Splits, bool IgnoreMerges)
{
    /// <summary>GPT-2's pattern: the ByteLevel pre-tokenizer's with use_regex.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Llama-3's pattern, which is tiktoken's cl100k_base: digits in groups of up to three.</summary>
    public const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Qwen2's pattern: Llama-3's with every digit a chunk of its own.</summary>
    public const string Qwen2Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>The <c>tokenizer.ggml.pre</c> names understood, for messages.</summary>
    public const string GgufNames = "llama-bpe (llama3, llama-v3), qwen2 (deepseek-r1-qwen), gpt-2 (gpt2), default";

    public static Regex Compile(string pattern) => new(pattern, RegexOptions.CultureInvariant);

    /// <summary>The pre-tokenizer a GGUF file's <c>tokenizer.ggml.pre</c> names, and whether llama.cpp adds a BOS
    /// token under that name when <c>tokenizer.ggml.add_bos_token</c> is absent; null for a name not supported.
    /// Llama-3's takes a chunk that is itself a vocabulary entry whole (llama.cpp's and Hugging Face's
    /// ignore_merges, and tiktoken's rule); "default" is llama.cpp's fallback list, which no converter writes for
    /// a current model.</summary>
    public static (ByteLevelPreTokenizer PreTokenizer, bool AddsBos)? ForGguf(string pre) => pre switch
    {
        "llama-bpe" or "llama3" or "llama-v3" => (new([Compile(Llama3Pattern)], IgnoreMerges: true), true),
        "qwen2" or "deepseek-r1-qwen" => (new([Compile(Qwen2Pattern)], IgnoreMerges: false), false),
        "gpt-2" or "gpt2" => (new([Compile(Gpt2Pattern)], IgnoreMerges: false), false),
        "default" => (new([Compile(@"[\p{P}\$\+<=>\^~\|]+"), Compile(Gpt2Pattern), Compile(@"\p{N}+"), Compile("[0-9][0-9][0-9]")],
            IgnoreMerges: false), false),
        _ => null,
    };

    /// <summary>The chunks of <paramref name="text"/>, in order.</summary>
    public IEnumerable<string> Split(string text)
    {
        IEnumerable<string> chunks = [text];
        foreach (var regex in Splits) chunks = chunks.SelectMany(c => SplitIsolated(regex, c));
        return chunks;
    }

    private static IEnumerable<string> SplitIsolated(Regex regex, string text)
    {
        int last = 0;
        foreach (Match m in regex.Matches(text))
        {
            if (m.Length == 0) continue;
            if (m.Index > last) yield return text[last..m.Index];
            yield return m.Value;
            last = m.Index + m.Length;
        }
        if (last < text.Length) yield return text[last..];
    }
}
