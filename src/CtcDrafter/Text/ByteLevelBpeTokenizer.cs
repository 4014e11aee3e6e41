using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace CtcDrafter.Text;

/// <summary>
/// Byte-level BPE from a <c>tokenizer.json</c> (GPT-2, LLaMA-3): the text is split by the file's pre-tokenizer
/// regexes, and each chunk is merged by Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/> (ByteLevel = true),
/// which spells the chunk's UTF-8 bytes in GPT-2's alphabet and applies the merges by rank.
/// </summary>
internal sealed class ByteLevelBpeTokenizer : TextTokenizer
{
    // GPT-2's pre-tokenizer, used by a ByteLevel pre-tokenizer with use_regex.
    private const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    private readonly Regex[] splits; // applied in order, each keeping matches and gaps as chunks ("Isolated")
    private readonly bool addPrefixSpace;
    private readonly bool ignoreMerges;
    private readonly BpeTokenizer bpe;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> vocab;

    private ByteLevelBpeTokenizer(TokenizerJson json, TokenSurface[] surfaces, Regex[] splits, bool addPrefixSpace, BpeTokenizer bpe)
        : base(surfaces, json.AddedTokens, json.IdOf(json.BosToken),
            json.EosToken is not null ? json.IdOf(json.EosToken) : json.FirstIdOf("<|end_of_text|>", "<|endoftext|>", "</s>"),
            dropsLeadingSpace: false)
    {
        this.splits = splits;
        this.addPrefixSpace = addPrefixSpace;
        this.bpe = bpe;
        ignoreMerges = (bool?)json.Model["ignore_merges"] ?? false;
        vocab = new Dictionary<string, int>(json.Vocab, StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();
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
                        splits.Add(new Regex(pattern, RegexOptions.CultureInvariant));
                        break;
                    case "ByteLevel":
                        addPrefixSpace = (bool?)c["add_prefix_space"] ?? true;
                        if ((bool?)c["use_regex"] ?? true) splits.Add(new Regex(Gpt2Pattern, RegexOptions.CultureInvariant));
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

        BpeTokenizer bpe;
        try
        {
            // Chunks arrive already split, so the library's pre-tokenizer must keep each one whole (without one it
            // would split on whitespace and drop the spaces).
            bpe = BpeTokenizer.Create(new BpeOptions(json.Vocab)
            {
                Merges = json.Merges.Select(m => m.Left + " " + m.Right),
                ByteLevel = true,
                PreTokenizer = new RegexPreTokenizer(new Regex(@"[\s\S]+"), null),
            });
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or KeyNotFoundException)
        {
            throw new FormatException($"{json.Path}: the BPE vocabulary or merges are inconsistent ({e.Message}).", e);
        }

        var surfaces = new TokenSurface[json.VocabSize];
        Array.Fill(surfaces, TokenSurface.Control);
        foreach (var (token, id) in json.Vocab)
            surfaces[id] = new TokenSurface(ByteLevelAlphabet.Decode(token), TokenSurfaceKind.Raw);
        foreach (var token in json.AddedTokens)
        {
            surfaces[token.Id] = token.Special
                ? TokenSurface.Control
                : new TokenSurface(Encoding.UTF8.GetBytes(token.Content), TokenSurfaceKind.Raw);
        }
        return new ByteLevelBpeTokenizer(json, surfaces, [.. splits], addPrefixSpace, bpe);
    }

    private protected override void EncodeSegment(ReadOnlySpan<char> text, bool atStartOfInput, List<int> ids)
    {
        string segment = addPrefixSpace && text is not [' ', ..] ? " " + text.ToString() : text.ToString();
        IEnumerable<string> chunks = [segment];
        foreach (var regex in splits) chunks = chunks.SelectMany(c => SplitIsolated(regex, c));
        foreach (string chunk in chunks)
        {
            // LLaMA-3's ignore_merges: a chunk that is itself a vocabulary entry is taken whole.
            if (ignoreMerges && vocab.TryGetValue(ByteLevelAlphabet.Encode(Encoding.UTF8.GetBytes(chunk)), out int id))
                ids.Add(id);
            else
                ids.AddRange(bpe.EncodeToIds(chunk));
        }
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
