using System.Text.Json;
using System.Text.Json.Nodes;
using static CtcDrafter.Model.JsonFields;

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
            if (JsonNode.Parse(File.ReadAllBytes(path)) is not JsonObject root) throw new FormatException("the top level is not an object");
            var added = new List<AddedToken>();
            foreach (var (key, value) in Object(root, "added_tokens_decoder") ?? [])
            {
                if (!int.TryParse(key, out int id) || id < 0)
                    throw new FormatException($"added_tokens_decoder key '{key}' is not a token id");
                string field = $"added_tokens_decoder.{id}";
                var entry = value as JsonObject ?? throw new FormatException($"field '{field}' must be an object");
                string content = Str(entry, "content", $"{field}.content") ?? throw new FormatException($"field '{field}' has no content");
                added.Add(new AddedToken(content, id, Flag(entry, "special", $"{field}.special") ?? false));
            }
            return new TokenizerConfig(TokenText(root, "bos_token"), TokenText(root, "eos_token"), added, Template(root));
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw new FormatException($"{path}: malformed tokenizer config ({e.Message}).", e);
        }
    }

    // "bos_token": "<s>" or {"content": "<s>", ...} or null.
    private static string? TokenText(JsonObject root, string name) =>
        root[name] is JsonObject token ? Str(token, "content", $"{name}.content") : Str(root, name);

    // "chat_template": "..." or [{"name": "default", "template": "..."}, ...].
    private static string? Template(JsonObject root)
    {
        if (root["chat_template"] is not JsonArray list) return Str(root, "chat_template");
        JsonObject? chosen = null;
        foreach (var node in list)
        {
            var item = node as JsonObject ?? throw new FormatException("field 'chat_template' lists something that is not an object");
            if (chosen is null || Str(item, "name", "chat_template[].name") == "default") chosen = item;
        }
        return chosen is null ? null : Str(chosen, "template", "chat_template[].template");
    }
}
