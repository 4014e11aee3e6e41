using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using AiMessage = Microsoft.Extensions.AI.ChatMessage;

namespace CtcDrafter.Cli.Server;

/// <summary>A request body that cannot be served: the message names the problem, <see cref="Param"/> the field.</summary>
sealed class BadRequestException(string message, string? param) : Exception(message)
{
    public string? Param { get; } = param;
}

/// <summary>
/// The body of <c>POST /v1/chat/completions</c>, checked field by field: <c>messages</c> (role system, user or
/// assistant; content a string or an array of text parts), <c>max_tokens</c> / <c>max_completion_tokens</c>,
/// <c>temperature</c>, <c>top_p</c>, <c>top_k</c> (an extension), <c>seed</c>, <c>stop</c> (a string or up to 4),
/// <c>stream</c>, <c>stream_options.include_usage</c>, <c>n</c> (1 only). <c>model</c> is accepted and ignored:
/// the server serves one model. Unknown fields are ignored, as OpenAI-compatible servers commonly do.
/// </summary>
sealed record ChatRequest(IReadOnlyList<AiMessage> Messages, ChatOptions Options, bool Stream, bool IncludeUsage)
{
    /// <summary>The field the request gave its token limit in (max_completion_tokens or max_tokens), for errors about it.</summary>
    public string MaxTokensField { get; init; } = "max_tokens";

    public static ChatRequest Parse(JsonNode? body)
    {
        if (body is not JsonObject o) throw new BadRequestException("the request body must be a JSON object", null);
        if (o["messages"] is not JsonArray list || list.Count == 0)
            throw new BadRequestException("'messages' must be a non-empty array", "messages");
        var messages = new List<AiMessage>();
        for (int i = 0; i < list.Count; i++)
        {
            string at = $"messages[{i}]";
            if (list[i] is not JsonObject m) throw new BadRequestException($"{at} must be an object", at);
            ChatRole role = String(m, "role", at) switch
            {
                "system" or "developer" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                string r => throw new BadRequestException($"{at}.role '{r}' is not supported (system, user, assistant)", $"{at}.role"),
            };
            messages.Add(new AiMessage(role, Content(m["content"], $"{at}.content")));
        }

        var options = new ChatOptions
        {
            MaxOutputTokens = Int(o, "max_completion_tokens") ?? Int(o, "max_tokens"),
            Temperature = Float(o, "temperature"),
            TopP = Float(o, "top_p"),
            TopK = Int(o, "top_k"),
            Seed = Long(o, "seed"),
            StopSequences = Stops(o["stop"]),
        };
        if (Int(o, "n") is int n && n != 1) throw new BadRequestException("only n = 1 is supported", "n");
        bool logprobs = Bool(o, "logprobs") ?? false;
        int? top = Int(o, "top_logprobs");
        if (top is not null && !logprobs) throw new BadRequestException("top_logprobs needs logprobs: true", "top_logprobs");
        if (logprobs) (options.AdditionalProperties ??= [])[CtcDrafter.Chat.CtcChatClient.LogprobsKey] = top ?? 0;
        bool stream = Bool(o, "stream") ?? false;
        bool usage = o["stream_options"] is JsonObject so && (Bool(so, "include_usage") ?? false);
        return new ChatRequest(messages, options, stream, usage)
        {
            MaxTokensField = o.ContainsKey("max_completion_tokens") ? "max_completion_tokens" : "max_tokens",
        };
    }

    static string Content(JsonNode? node, string at) => node switch
    {
        JsonValue v when v.TryGetValue(out string? s) => s,
        JsonArray parts => string.Concat(parts.Select((p, i) =>
            p is JsonObject part && part["type"]?.GetValueKind() == JsonValueKind.String && (string?)part["type"] == "text" && part["text"] is JsonValue t && t.TryGetValue(out string? text)
                ? text
                : throw new BadRequestException($"{at}[{i}] must be a text part {{\"type\": \"text\", \"text\": ...}}", $"{at}[{i}]"))),
        _ => throw new BadRequestException($"{at} must be a string or an array of text parts", at),
    };

    static IList<string>? Stops(JsonNode? node)
    {
        switch (node)
        {
            case null: return null;
            case JsonValue v when v.TryGetValue(out string? s): return [s];
            case JsonArray a when a.Count <= 4 && a.All(x => x is JsonValue xv && xv.TryGetValue(out string? _)):
                return [.. a.Select(x => (string)x!)];
            default: throw new BadRequestException("stop must be a string or an array of at most 4 strings", "stop");
        }
    }

    static string String(JsonObject o, string name, string at) =>
        o[name] is JsonValue v && v.TryGetValue(out string? s) ? s : throw new BadRequestException($"{at}.{name} must be a string", $"{at}.{name}");

    static T? Number<T>(JsonObject o, string name, Func<JsonValue, T?> read) where T : struct
    {
        JsonNode? node = o[name];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && read(v) is T value) return value;
        throw new BadRequestException($"{name} must be a number{(typeof(T) == typeof(float) ? "" : " (an integer)")}", name);
    }

    static int? Int(JsonObject o, string name) => Number<int>(o, name, v => v.TryGetValue(out int i) ? i : null);
    static long? Long(JsonObject o, string name) => Number<long>(o, name, v => v.TryGetValue(out long i) ? i : null);
    static float? Float(JsonObject o, string name) => Number<float>(o, name, v => v.TryGetValue(out double d) ? (float)d : null);

    static bool? Bool(JsonObject o, string name) => o[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        _ => throw new BadRequestException($"{name} must be true or false", name),
    };
}
