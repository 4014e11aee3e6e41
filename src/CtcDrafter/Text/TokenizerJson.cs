using System.Text.Json;
using System.Text.Json.Nodes;

namespace CtcDrafter.Text;

/// <summary>
/// A Hugging Face <c>tokenizer.json</c> whose model is BPE, read into the parts both supported kinds share, and
/// the choice between them: byte-level BPE (GPT-2, LLaMA-3: <see cref="ByteLevelBpeTokenizer"/>) or
/// SentencePiece-style BPE with ▁ for spaces and byte fallback (LLaMA, Mistral: <see cref="MetaspaceBpeTokenizer"/>).
/// Added tokens are matched as whole texts; their lstrip/rstrip/single_word flags are not applied.
/// </summary>
internal sealed class TokenizerJson
{
    public required string Path { get; init; }
    public required Dictionary<string, int> Vocab { get; init; }
    public required List<(string Left, string Right)> Merges { get; init; }
    public required List<AddedToken> AddedTokens { get; init; }
    public required JsonObject Model { get; init; }
    public JsonNode? Normalizer { get; init; }
    public JsonNode? PreTokenizer { get; init; }
    public string? BosToken { get; init; }
    public string? EosToken { get; init; }

    /// <summary>Number of ids: one past the largest id of the vocabulary and the added tokens.</summary>
    public int VocabSize => Math.Max(Vocab.Values.DefaultIfEmpty(-1).Max(), AddedTokens.Select(t => t.Id).DefaultIfEmpty(-1).Max()) + 1;

    public static TextTokenizer Load(byte[] data, string path, TokenizerConfig? config)
    {
        TokenizerJson json;
        bool byteLevel;
        try
        {
            var root = JsonNode.Parse(data)?.AsObject() ?? throw new FormatException("the file is JSON null");
            var model = root["model"]?.AsObject() ?? throw new FormatException("it has no \"model\"");
            string type = (string?)model["type"] ?? (model["merges"] is not null ? "BPE" : "?");
            if (type != "BPE") throw new NotSupportedException($"{path}: tokenizer model type '{type}' is not supported; only BPE is.");
            foreach (string option in new[] { "continuing_subword_prefix", "end_of_word_suffix", "dropout" })
            {
                if (model[option] is JsonValue v && !(v.TryGetValue(out string? s) && s.Length == 0))
                    throw new NotSupportedException($"{path}: BPE option '{option}' is not supported.");
            }
            var vocab = (model["vocab"] as JsonObject ?? throw new FormatException("model.vocab is missing or not an object"))
                .ToDictionary(kv => kv.Key, kv => (int?)kv.Value ?? throw new FormatException($"vocab entry '{kv.Key}' has no id"), StringComparer.Ordinal);
            var merges = (model["merges"] as JsonArray ?? []).Select(ParseMerge).ToList();
            var added = (root["added_tokens"] as JsonArray ?? []).Select(t => new AddedToken(
                (string?)t!["content"] ?? throw new FormatException("an added token has no content"),
                (int?)t["id"] ?? throw new FormatException("an added token has no id"),
                (bool?)t["special"] ?? false)).ToList();
            TextTokenizer.CheckIds(vocab.Values.Concat(added.Select(t => t.Id)));
            foreach (var (left, right) in merges)
            {
                if (!vocab.ContainsKey(left) || !vocab.ContainsKey(right) || !vocab.ContainsKey(left + right))
                    throw new FormatException($"merge \"{left} {right}\" uses or makes a token missing from the vocabulary");
            }
            byteLevel = Components(root["pre_tokenizer"]).Concat(Components(root["decoder"])).Any(c => Type(c) == "ByteLevel");
            json = new TokenizerJson
            {
                Path = path, Vocab = vocab, Merges = merges, AddedTokens = added, Model = model,
                Normalizer = root["normalizer"], PreTokenizer = root["pre_tokenizer"],
                BosToken = config?.BosToken ?? FirstTemplateToken(root["post_processor"]),
                EosToken = config?.EosToken,
            };
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or InvalidCastException or ArgumentException)
        {
            throw new FormatException($"{path}: malformed tokenizer.json ({e.Message}).", e);
        }
        return byteLevel ? ByteLevelBpeTokenizer.Create(json) : MetaspaceBpeTokenizer.Create(json);
    }

    /// <summary>The id of a token text in the vocabulary or the added tokens, or -1.</summary>
    public int IdOf(string? token)
    {
        if (token is null) return -1;
        var added = AddedTokens.Find(t => t.Content == token);
        return added is not null ? added.Id : Vocab.GetValueOrDefault(token, -1);
    }

    /// <summary>The first id among the given token texts that exists, or -1.</summary>
    public int FirstIdOf(params string?[] tokens) => tokens.Select(IdOf).FirstOrDefault(id => id >= 0, -1);

    /// <summary>The components of a normalizer, pre-tokenizer or decoder, with Sequences flattened.</summary>
    public static IEnumerable<JsonObject> Components(JsonNode? node)
    {
        if (node is not JsonObject obj) yield break;
        if (Type(obj) != "Sequence")
        {
            yield return obj;
            yield break;
        }
        foreach (var list in new[] { "normalizers", "pretokenizers", "decoders", "processors" })
        {
            foreach (var child in obj[list] as JsonArray ?? [])
                foreach (var c in Components(child)) yield return c;
        }
    }

    public static string? Type(JsonObject component) => (string?)component["type"];

    public NotSupportedException Unsupported(string what) => new($"{Path}: {what} is not supported.");

    // Merges are "a b" strings (older files) or ["a", "b"] arrays.
    private static (string, string) ParseMerge(JsonNode? merge)
    {
        if (merge is JsonArray { Count: 2 } pair) return ((string?)pair[0] ?? "", (string?)pair[1] ?? "");
        string text = (string?)merge ?? throw new FormatException("a merge is neither a string nor a pair");
        int space = text.IndexOf(' ', 1);
        if (space < 0 || text.IndexOf(' ', space + 1) >= 0) throw new FormatException($"merge \"{text}\" is not two tokens");
        return (text[..space], text[(space + 1)..]);
    }

    // The BOS a TemplateProcessing post-processor puts first ("<|begin_of_text|> $A"), if any.
    private static string? FirstTemplateToken(JsonNode? postProcessor)
    {
        foreach (var c in Components(postProcessor))
        {
            if (Type(c) == "TemplateProcessing" && c["single"] is JsonArray { Count: > 0 } single
                && single[0]?["SpecialToken"]?["id"] is JsonNode id)
                return (string?)id;
        }
        return null;
    }
}
