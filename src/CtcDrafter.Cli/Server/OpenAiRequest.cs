using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Chat;
using CtcDrafter.Generation;
using CtcDrafter.Text;
using Microsoft.Extensions.AI;

namespace CtcDrafter.Cli.Server;

/// <summary>
/// The body of <c>POST /v1/chat/completions</c> or <c>/v1/completions</c>, checked field by field, and the shape of
/// that endpoint's answer. Both read <c>max_tokens</c>, <c>temperature</c>, <c>top_p</c>, <c>top_k</c> (an
/// extension), <c>seed</c>, <c>stop</c> (a string or up to 4), <c>stream</c>, <c>stream_options.include_usage</c> and
/// <c>method</c> (an extension: which of the server's speculative decoding methods answers).
/// No field is silently ignored: an unknown field, or one this server does not implement (<c>tools</c>,
/// <c>response_format</c>, <c>logit_bias</c>, <c>n</c> > 1, penalties...), is a 400 naming it. Accepted without
/// effect: <c>model</c> (the server serves one model) and <c>user</c> (an end-user id for the provider's abuse
/// monitoring, which changes no output); and a few fields at the value that asks for nothing (<c>n: 1</c>,
/// <c>presence_penalty</c>/<c>frequency_penalty: 0</c>, <c>logit_bias: {}</c>, <c>response_format: {"type": "text"}</c>).
/// A field set to null counts as absent.
/// </summary>
abstract record OpenAiRequest(ChatOptions Options, bool Stream, bool IncludeUsage)
{
    /// <summary>The field the request gave its token limit in (max_completion_tokens or max_tokens), for errors about it.</summary>
    public string MaxTokensField { get; init; } = "max_tokens";

    /// <summary>The speculative decoding method asked for, or null for the server's default.</summary>
    public string? Method { get; init; }

    /// <summary>"chat.completion" or "text_completion".</summary>
    public abstract string Object { get; }

    /// <summary>"chat.completion.chunk" or "text_completion".</summary>
    public abstract string ChunkObject { get; }

    public abstract Task<ChatResponse> Respond(CtcChatClient client, CancellationToken cancellationToken);

    public abstract IAsyncEnumerable<ChatResponseUpdate> StreamResponse(CtcChatClient client, CancellationToken cancellationToken);

    /// <summary>The fields of a choice holding the whole text (<c>message</c>, or <c>text</c>).</summary>
    public abstract JsonObject Choice(string text);

    /// <summary>The fields of the streamed choice before any text (chat's role), or null for none.</summary>
    public abstract JsonObject? Opening();

    /// <summary>The fields of a streamed choice holding a piece of text.</summary>
    public abstract JsonObject Delta(string text);

    /// <summary>The endpoint's log-probability object.</summary>
    public abstract JsonObject Logprobs(IReadOnlyList<TokenLogprob> items, TextTokenizer tokenizer);

    /// <summary>The request's own name of a field an engine error names (max_tokens, top_logprobs...).</summary>
    public virtual string FieldName(string engineField) => engineField == "max_tokens" ? MaxTokensField : engineField;

    /// <summary>Fields both endpoints read (in <see cref="Sampling"/>) or accept.</summary>
    protected static readonly string[] CommonFields =
    [
        "model", "user", "max_tokens", "temperature", "top_p", "top_k", "seed", "stop", "stream", "stream_options",
        "n", "presence_penalty", "frequency_penalty", "logit_bias", "response_format", "method",
    ];

    // Why the OpenAI fields this server does not implement are refused (any other unknown field gets a generic reason).
    static readonly Dictionary<string, string> Unimplemented = new()
    {
        ["tools"] = "tool calls are not supported",
        ["tool_choice"] = "tool calls are not supported",
        ["parallel_tool_calls"] = "tool calls are not supported",
        ["functions"] = "function calls are not supported",
        ["function_call"] = "function calls are not supported",
        ["audio"] = "audio output is not supported",
        ["modalities"] = "only text is generated",
        ["prediction"] = "predicted outputs are not supported",
        ["reasoning_effort"] = "the model has no reasoning mode",
        ["web_search_options"] = "web search is not supported",
        ["store"] = "completions are not stored",
        ["metadata"] = "completions are not stored",
        ["service_tier"] = "there is one service tier",
        ["suffix"] = "insertion (suffix) is not supported",
        ["echo"] = "echoing the prompt is not supported",
        ["best_of"] = "best_of is not supported (one completion per request)",
    };

    /// <summary>
    /// Refuses every non-null field of <paramref name="o"/> not in <paramref name="known"/>, naming it
    /// (<paramref name="at"/> prefixes nested names: "messages[0].").
    /// </summary>
    protected static void RefuseUnknown(JsonObject o, IEnumerable<string> known, string at = "")
    {
        var set = known.ToHashSet();
        foreach (var (name, value) in o)
        {
            if (value is null || set.Contains(name)) continue;
            string field = at + name;
            throw new BadRequestException(
                Unimplemented.TryGetValue(name, out string? why) && at == ""
                    ? $"'{field}' is not supported by this server: {why}"
                    : $"unknown field '{field}' (this server refuses fields it does not implement rather than ignore them)",
                field);
        }
    }

    /// <summary>
    /// The options both endpoints share, and the fields accepted only at the value that asks for nothing.
    /// <paramref name="maxTokens"/> is the value of the request's token limit field.
    /// </summary>
    protected static ChatOptions Sampling(JsonObject o, int? maxTokens)
    {
        if (Int(o, "n") is int n && n != 1) throw new BadRequestException("only n = 1 is supported (one choice per request)", "n");
        foreach (string penalty in (string[])["presence_penalty", "frequency_penalty"])
            if (Float(o, penalty) is float p && p != 0)
                throw new BadRequestException($"{penalty} is not supported (only 0): it would change the base model's distribution", penalty);
        if (o["logit_bias"] is JsonNode bias && bias is not JsonObject { Count: 0 })
            throw new BadRequestException("logit_bias is not supported (only {}): it would change the base model's distribution", "logit_bias");
        if (o["response_format"] is JsonNode format && !(format is JsonObject f && f.Count == 1 && f["type"] is JsonValue t && t.TryGetValue(out string? type) && type == "text"))
            throw new BadRequestException("response_format is not supported (only {\"type\": \"text\"}): no JSON mode or schema", "response_format");
        return new ChatOptions
        {
            MaxOutputTokens = maxTokens,
            Temperature = Float(o, "temperature"),
            TopP = Float(o, "top_p"),
            TopK = Int(o, "top_k"),
            Seed = Long(o, "seed"),
            StopSequences = Stops(o["stop"]),
        };
    }

    /// <summary><c>stream</c> and <c>stream_options</c> (which needs <c>stream: true</c>): whether to stream, whether to add a usage chunk.</summary>
    protected static (bool Stream, bool IncludeUsage) Streaming(JsonObject o)
    {
        bool stream = Bool(o, "stream") ?? false;
        if (o["stream_options"] is not JsonNode node) return (stream, false);
        if (node is not JsonObject so) throw new BadRequestException("stream_options must be an object", "stream_options");
        if (!stream) throw new BadRequestException("stream_options needs stream: true", "stream_options");
        RefuseUnknown(so, ["include_usage"], "stream_options.");
        return (stream, Bool(so, "include_usage", "stream_options.include_usage") ?? false);
    }

    /// <summary>The extension field <c>method</c>: a method name (checked against the server's), or null.</summary>
    protected static string? MethodOf(JsonObject o) => o["method"] switch
    {
        null => null,
        JsonValue v when v.TryGetValue(out string? s) => s,
        _ => throw new BadRequestException("method must be a string (a speculative decoding method the server loaded)", "method"),
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

    protected static string String(JsonObject o, string name, string at) =>
        o[name] is JsonValue v && v.TryGetValue(out string? s) ? s : throw new BadRequestException($"{at}.{name} must be a string", $"{at}.{name}");

    static T? Number<T>(JsonObject o, string name, Func<JsonValue, T?> read) where T : struct
    {
        JsonNode? node = o[name];
        if (node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number && read(v) is T value) return value;
        throw new BadRequestException($"{name} must be a number{(typeof(T) == typeof(float) ? "" : " (an integer)")}", name);
    }

    protected static int? Int(JsonObject o, string name) => Number<int>(o, name, v => v.TryGetValue(out int i) ? i : null);
    static long? Long(JsonObject o, string name) => Number<long>(o, name, v => v.TryGetValue(out long i) ? i : null);
    static float? Float(JsonObject o, string name) => Number<float>(o, name, v => v.TryGetValue(out double d) ? (float)d : null);

    protected static bool? Bool(JsonObject o, string name, string? field = null) => o[name] switch
    {
        null => null,
        JsonValue v when v.GetValueKind() is JsonValueKind.True or JsonValueKind.False => v.GetValue<bool>(),
        _ => throw new BadRequestException($"{field ?? name} must be true or false", field ?? name),
    };
}
