using System.Text.Json.Nodes;
using CtcDrafter.Chat;
using CtcDrafter.Generation;
using CtcDrafter.Text;
using Microsoft.Extensions.AI;

namespace CtcDrafter.Cli.Server;

/// <summary>
/// The body of <c>POST /v1/completions</c>, plain text without a chat template: <c>prompt</c> (one string,
/// continued after BOS), <c>logprobs</c> (the legacy API's integer: that many alternatives per token), and the
/// fields of <see cref="OpenAiRequest"/>; <c>echo: false</c> and <c>best_of: 1</c> are accepted as asking for nothing.
/// </summary>
sealed record CompletionRequest(string Prompt, ChatOptions Options, bool Stream, bool IncludeUsage)
    : OpenAiRequest(Options, Stream, IncludeUsage)
{
    public override string Object => "text_completion";
    public override string ChunkObject => "text_completion";

    public static CompletionRequest Parse(JsonNode? body)
    {
        if (body is not JsonObject o) throw new BadRequestException("the request body must be a JSON object", null);
        RefuseUnknown(o, [.. CommonFields, "prompt", "logprobs", "echo", "best_of"]);
        string prompt = o["prompt"] is JsonValue v && v.TryGetValue(out string? s)
            ? s
            : throw new BadRequestException("'prompt' must be a string (one prompt per request; token arrays are not supported)", "prompt");
        if (Bool(o, "echo") == true) throw new BadRequestException("echo is not supported (only false)", "echo");
        if (Int(o, "best_of") is int best && best != 1) throw new BadRequestException("best_of is not supported (only 1)", "best_of");

        ChatOptions options = Sampling(o, Int(o, "max_tokens"));
        if (Int(o, "logprobs") is int top) (options.AdditionalProperties ??= [])[CtcChatClient.LogprobsKey] = top;
        var (stream, usage) = Streaming(o);
        return new CompletionRequest(prompt, options, stream, usage) { Method = MethodOf(o) };
    }

    public override string FieldName(string engineField) => engineField == "top_logprobs" ? "logprobs" : base.FieldName(engineField);

    public override Task<ChatResponse> Respond(CtcChatClient client, CancellationToken cancellationToken) =>
        client.CompleteAsync(Prompt, Options, cancellationToken);

    public override IAsyncEnumerable<ChatResponseUpdate> StreamResponse(CtcChatClient client, CancellationToken cancellationToken) =>
        client.CompleteStreamingAsync(Prompt, Options, cancellationToken);

    public override JsonObject Choice(string text) => new() { ["text"] = text };

    public override JsonObject? Opening() => null;

    public override JsonObject Delta(string text) => new() { ["text"] = text, ["logprobs"] = null };

    /// <summary>
    /// The legacy API's <c>{"tokens", "token_logprobs", "top_logprobs": [{token: logprob}]}</c> (no
    /// <c>text_offset</c>: a token may end inside a character). Two alternatives with the same text keep the likelier.
    /// </summary>
    public override JsonObject Logprobs(IReadOnlyList<TokenLogprob> items, TextTokenizer tokenizer)
    {
        string Text(int token) => System.Text.Encoding.UTF8.GetString(tokenizer.TokenBytes(token));
        var top = new JsonArray();
        foreach (TokenLogprob item in items)
        {
            var alternatives = new JsonObject();
            foreach (var (token, logprob) in item.Top)
                if (!alternatives.ContainsKey(Text(token))) alternatives[Text(token)] = logprob;
            top.Add(alternatives);
        }
        return new JsonObject
        {
            ["tokens"] = new JsonArray([.. items.Select(i => (JsonNode)Text(i.Token))]),
            ["token_logprobs"] = new JsonArray([.. items.Select(i => (JsonNode)i.Logprob)]),
            ["top_logprobs"] = top,
        };
    }
}
