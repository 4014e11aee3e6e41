using System.Text;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace CtcDrafter.Text;

/// <summary>
/// Byte-level BPE (GPT-2, LLaMA-3, Qwen2), from a <c>tokenizer.json</c> or a GGUF file's vocabulary and merges: the
/// text is split by the pre-tokenizer's regexes, and each chunk is merged by Microsoft.ML.Tokenizers'
/// <see cref="BpeTokenizer"/> (ByteLevel = true), which spells the chunk's UTF-8 bytes in GPT-2's alphabet and
/// applies the merges by rank.
/// </summary>
internal sealed class ByteLevelBpeTokenizer : TextTokenizer
{
    private readonly ByteLevelPreTokenizer preTokenizer;
    private readonly bool addPrefixSpace;
    private readonly BpeTokenizer bpe;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> vocab;

    private ByteLevelBpeTokenizer(TokenSurface[] surfaces, IReadOnlyList<AddedToken> addedTokens, int bosId, int eosId,
        ByteLevelPreTokenizer preTokenizer, bool addPrefixSpace, BpeTokenizer bpe, Dictionary<string, int> vocab)
        : base(surfaces, addedTokens, bosId, eosId, dropsLeadingSpace: false)
    {
        this.preTokenizer = preTokenizer;
        this.addPrefixSpace = addPrefixSpace;
        this.bpe = bpe;
        this.vocab = vocab.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    public static ByteLevelBpeTokenizer Create(TokenizerJson json)
    {
        if (json.Normalizer is not null) throw json.Unsupported("a normalizer in a byte-level tokenizer.json");
        var splits = new List<Regex>();
        bool addPrefixSpace = false;
        try
        {
            foreach (var c in TokenizerJson.Components(json.PreTokenizer))
            {
                switch (TokenizerJson.Type(c))
                {
                    case "Split":
                        if ((string?)c["behavior"] != "Isolated" || ((bool?)c["invert"] ?? false))
                            throw json.Unsupported($"a Split pre-tokenizer with behavior '{(string?)c["behavior"]}'");
                        string pattern = (string?)c["pattern"]?["Regex"]
                            ?? Regex.Escape((string?)c["pattern"]?["String"] ?? throw new FormatException("a Split pre-tokenizer has no pattern"));
                        splits.Add(ByteLevelPreTokenizer.Compile(pattern));
                        break;
                    case "ByteLevel":
                        addPrefixSpace = (bool?)c["add_prefix_space"] ?? true;
                        if ((bool?)c["use_regex"] ?? true) splits.Add(ByteLevelPreTokenizer.Compile(ByteLevelPreTokenizer.Gpt2Pattern));
                        break;
                    default:
                        throw json.Unsupported($"pre-tokenizer '{TokenizerJson.Type(c)}'");
                }
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new FormatException($"{json.Path}: malformed pre_tokenizer ({e.Message}).", e);
        }
        int eosId = json.EosToken is not null ? json.IdOf(json.EosToken) : json.FirstIdOf("<|end_of_text|>", "<|endoftext|>", "</s>");
        var preTokenizer = new ByteLevelPreTokenizer([.. splits], IgnoreMerges: (bool?)json.Model["ignore_merges"] ?? false);
        return Create(json.Path, json.Vocab, json.Merges, json.AddedTokens, json.VocabSize, json.IdOf(json.BosToken), eosId,
            preTokenizer, addPrefixSpace);
    }

    /// <summary>
    /// The tokenizer of a vocabulary spelled in GPT-2's byte alphabet (<paramref name="vocab"/>: the entries BPE may
    /// produce) and its merges by rank; <paramref name="addedTokens"/> are matched whole before BPE runs. Ids that
    /// neither defines decode to nothing.
    /// </summary>
    /// <exception cref="FormatException">The merges do not fit the vocabulary; the message names <paramref name="path"/>.</exception>
    public static ByteLevelBpeTokenizer Create(string path, Dictionary<string, int> vocab, IEnumerable<(string Left, string Right)> merges,
        IReadOnlyList<AddedToken> addedTokens, int vocabSize, int bosId, int eosId, ByteLevelPreTokenizer preTokenizer, bool addPrefixSpace)
    {
        BpeTokenizer bpe;
        try
        {
            // Chunks arrive already split, so the library's pre-tokenizer must keep each one whole (without one it
            // would split on whitespace and drop the spaces).
            bpe = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges.Select(m => m.Left + " " + m.Right),
                ByteLevel = true,
                PreTokenizer = new RegexPreTokenizer(new Regex(@"[\s\S]+"), null),
            });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new FormatException($"{path}: the BPE vocabulary or merges are inconsistent ({e.Message}).", e);
        }

        var surfaces = new TokenSurface[vocabSize];
        Array.Fill(surfaces, TokenSurface.Control);
        foreach (var (token, id) in vocab)
            surfaces[id] = new TokenSurface(ByteLevelAlphabet.Decode(token), TokenSurfaceKind.Raw);
        foreach (var token in addedTokens)
        {
            surfaces[token.Id] = token.Special
                ? TokenSurface.Control
                : new TokenSurface(Encoding.UTF8.GetBytes(token.Content), TokenSurfaceKind.Raw);
        }
        return new ByteLevelBpeTokenizer(surfaces, addedTokens, bosId, eosId, preTokenizer, addPrefixSpace, bpe,
            new Dictionary<string, int>(vocab, StringComparer.Ordinal));
    }

    private protected override void EncodeSegment(ReadOnlySpan<char> text, bool atStartOfInput, List<int> ids)
    {
        string segment = addPrefixSpace && text is not [' ', ..] ? " " + text.ToString() : text.ToString();
        foreach (string chunk in preTokenizer.Split(segment))
        {
            // LLaMA-3's ignore_merges: a chunk that is itself a vocabulary entry is taken whole.
            if (preTokenizer.IgnoreMerges && vocab.TryGetValue(ByteLevelAlphabet.Encode(Encoding.UTF8.GetBytes(chunk)), out int id))
                ids.Add(id);
            else
                ids.AddRange(bpe.EncodeToIds(chunk));
        }
    }
}
