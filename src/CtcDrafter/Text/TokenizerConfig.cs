using System.Text.Json;

namespace CtcDrafter.Text;

/// <summary>What the engine uses from a Hugging Face <c>tokenizer_config.json</c>: the BOS/EOS token texts,
/// the added tokens (<c>added_tokens_decoder</c>) and the Jinja <c>chat_template</c> text.</summary>
internal sealed record TokenizerConfig(
    string? BosToken, string? EosToken, IReadOnlyList<AddedToken> AddedTokens, string? ChatTemplate)
{
    public const string FileName = "tokenizer_config.json";

    /// <summary>Reads <c>tokenizer_config.json</c> in <paramref name="directory"/>; null when there is none.</summary>
    public static TokenizerConfig? TryRead(string directory)
    {
        string path = Path.Combine(directory, FileName);
        if (!File.Exists(path)) return null;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new FormatException("the top level is not an object");
            var added = new List<AddedToken>();
            if (root.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind == JsonValueKind.Object)
            {
                foreach (var entry in decoder.EnumerateObject())
                {
                    if (!int.TryParse(entry.Name, out int id) || id < 0)
                        throw new FormatException($"added_tokens_decoder key '{entry.Name}' is not a token id");
                    string content = entry.Value.GetProperty("content").GetString()
                        ?? throw new FormatException($"added token {id} has no content");
                    bool special = entry.Value.TryGetProperty("special", out var s) && s.GetBoolean();
                    added.Add(new AddedToken(content, id, special));
                }
            }
            return new TokenizerConfig(TokenText(root, "bos_token"), TokenText(root, "eos_token"), added, Template(root));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new FormatException($"{path}: malformed tokenizer config ({e.Message}).", e);
        }
    }

    // "bos_token": "<s>" or {"content": "<s>", ...} or null.
    private static string? TokenText(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value)) return null;
        return value.ValueKind switch
        {
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object => value.GetProperty("content").GetString(),
            _ => null,
        };
    }

    // "chat_template": "..." or [{"name": "default", "template": "..."}, ...].
    private static string? Template(JsonElement root)
    {
        if (!root.TryGetProperty("chat_template", out var value)) return null;
        if (value.ValueKind == JsonValueKind.String) return value.GetString();
        if (value.ValueKind != JsonValueKind.Array) return null;
        JsonElement? chosen = null;
        foreach (var item in value.EnumerateArray())
        {
            if (chosen is null || item.GetProperty("name").GetString() == "default") chosen = item;
        }
        return chosen?.GetProperty("template").GetString();
    }
}
