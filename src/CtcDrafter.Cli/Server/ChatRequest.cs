using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Chat;
using CtcDrafter.Generation;
using CtcDrafter.Text;
using Microsoft.Extensions.AI;
using AiMessage = Microsoft.Extensions.AI.ChatMessage;

namespace CtcDrafter.Cli.Server;

/// <summary>
/// The body of <c>POST /v1/chat/completions</c>: <c>messages</c> (each only <c>role</c>, system/developer, user
/// or assistant, and <c>content</c>, a string or an array of text parts), <c>max_completion_tokens</c> (or
/// <c>max_tokens</c>), <c>logprobs</c> and <c>top_logprobs</c>, and the fields of <see cref="OpenAiRequest"/>.
/// </summary>
sealed record ChatRequest(IReadOnlyList<AiMessage> Messages, ChatOptions Options, bool Stream, bool IncludeUsage)
    : OpenAiRequest(Options, Stream, IncludeUsage)
{
    public override string Object => "chat.completion";
    public override string ChunkObject => "chat.completion.chunk";

    public static ChatRequest Parse(JsonNode? body)
    {
        if (body is not JsonObject o) throw new BadRequestException("the request body must be a JSON object", null);
        RefuseUnknown(o, [.. CommonFields, "messages", "max_completion_tokens", "logprobs", "top_logprobs"]);
        if (o["messages"] is not JsonArray list || list.Count == 0)
            throw new BadRequestException("'messages' must be a non-empty array", "messages");
        var messages = new List<AiMessage>();
        for (int i = 0; i < list.Count; i++)
        {
            string at = $"messages[{i}]";
            if (list[i] is not JsonObject m) throw new BadRequestException($"{at} must be an object", at);
            RefuseUnknown(m, ["role", "content"], at + ".");
            ChatRole role = String(m, "role", at) switch
            {
                "system" or "developer" => ChatRole.System,
                "user" => ChatRole.User,
                "assistant" => ChatRole.Assistant,
                string r => throw new BadRequestException($"{at}.role '{r}' is not supported (system, user, assistant)", $"{at}.role"),
            };
            messages.Add(new AiMessage(role, Content(m["content"], $"{at}.content")));
        }

        ChatOptions options = Sampling(o, Int(o, "max_completion_tokens") ?? Int(o, "max_tokens"));
        bool logprobs = Bool(o, "logprobs") ?? false;
        int? top = Int(o, "top_logprobs");
        if (top is not null && !logprobs) throw new BadRequestException("top_logprobs needs logprobs: true", "top_logprobs");
        if (logprobs) (options.AdditionalProperties ??= [])[CtcChatClient.LogprobsKey] = top ?? 0;
        var (stream, usage) = Streaming(o);
        return new ChatRequest(messages, options, stream, usage)
        {
            MaxTokensField = o["max_completion_tokens"] is not null ? "max_completion_tokens" : "max_tokens",
            Method = MethodOf(o),
        };
    }

    public override Task<ChatResponse> Respond(CtcChatClient client, CancellationToken cancellationToken) =>
        client.GetResponseAsync(Messages, Options, cancellationToken);

    public override IAsyncEnumerable<ChatResponseUpdate> StreamResponse(CtcChatClient client, CancellationToken cancellationToken) =>
        client.GetStreamingResponseAsync(Messages, Options, cancellationToken);

    public override JsonObject Choice(string text) => new() { ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = text } };

    public override JsonObject Opening() => new() { ["delta"] = new JsonObject { ["role"] = "assistant", ["content"] = "" } };

    public override JsonObject Delta(string text) => new() { ["delta"] = new JsonObject { ["content"] = text } };

    /// <summary>OpenAI's <c>{"content": [{"token", "logprob", "bytes", "top_logprobs"}]}</c>.</summary>
    public override JsonObject Logprobs(IReadOnlyList<TokenLogprob> items, TextTokenizer tokenizer) =>
        new() { ["content"] = new JsonArray([.. items.Select(i => (JsonNode)Commands.GenerateCommand.Logprob(i, tokenizer))]) };

    static string Content(JsonNode? node, string at) => node switch
    {
        JsonValue v when v.TryGetValue(out string? s) => s,
        JsonArray parts => string.Concat(parts.Select((p, i) =>
            p is JsonObject part && part.Count == 2 && part["type"]?.GetValueKind() == JsonValueKind.String && (string?)part["type"] == "text" && part["text"] is JsonValue t && t.TryGetValue(out string? text)
                ? text
                : throw new BadRequestException($"{at}[{i}] must be a text part {{\"type\": \"text\", \"text\": ...}}", $"{at}[{i}]"))),
        _ => throw new BadRequestException($"{at} must be a string or an array of text parts", at),
    };
}
