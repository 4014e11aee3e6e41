using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Chat;
using CtcDrafter.Generation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Logging;

namespace CtcDrafter.Cli.Server;

/// <summary>
/// An OpenAI-compatible HTTP server over a <see cref="CtcChatClient"/>: <c>GET /v1/models</c>,
/// <c>POST /v1/chat/completions</c>, <c>POST /v1/completions</c> (plain text; both JSON, or server-sent events with
/// <c>"stream": true</c>), <c>GET /health</c> and the chat page at <c>GET /</c>. Every response and chunk carries OpenAI's <c>id</c>
/// ("chatcmpl-…" or "cmpl-…", one per request) and <c>created</c>; final ones add <c>usage</c>, <c>timings</c> and <c>speculation</c>.
/// The server may hold one client per speculative decoding method (each with its own sequence); a request picks one
/// with the extension field <c>method</c>, the first by default. The clients share one <see cref="BatchGenerator"/>,
/// whose slots decode concurrent requests together; when its queue is full a request gets 429 with
/// <c>Retry-After</c>, and one whose time limit passes while it waits 503. A client that disconnects ends its
/// generation at the next step. Bad requests get status 400 with OpenAI's error object <c>{"error": {"message",
/// "type": "invalid_request_error", "param", "code"}}</c> naming the problem.
/// </summary>
static class OpenAiServer
{
    /// <summary>The default bound on a request body, well under Kestrel's 30 MB: a prompt this large cannot fit any context here.</summary>
    public const long DefaultMaxRequestBytes = 4 << 20;

    /// <param name="clients">One client per method, all over the same model; the first serves requests that name none.</param>
    public static WebApplication Build(IReadOnlyList<CtcChatClient> clients, string url, long maxRequestBytes = DefaultMaxRequestBytes)
    {
        if (clients.Count == 0) throw new ArgumentException("no method to serve");
        var methods = new Dictionary<string, CtcChatClient>();
        foreach (CtcChatClient c in clients)
            if (!methods.TryAdd(c.Method, c)) throw new ArgumentException($"method '{c.Method}' is given twice");
        CtcChatClient first = clients[0];
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(url);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = maxRequestBytes);
        var app = builder.Build();
        // Every error status (404 unknown path, 405 wrong method, 413 body too large...) carries OpenAI's error object.
        app.UseStatusCodePages(context => Error(context.HttpContext,
            $"{context.HttpContext.Request.Method} {context.HttpContext.Request.Path}: {ReasonOf(context.HttpContext.Response.StatusCode)}",
            null, context.HttpContext.Response.StatusCode));
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        app.MapGet("/health", () => Results.Json(new JsonObject { ["status"] = "ok" }));
        app.MapGet("/v1/models", () => Results.Json(new JsonObject
        {
            ["object"] = "list",
            ["data"] = new JsonArray(new JsonObject
            {
                ["id"] = first.ModelId, ["object"] = "model", ["created"] = created, ["owned_by"] = "ctcdrafter",
                ["speculation"] = new JsonObject { ["methods"] = new JsonArray([.. methods.Keys.Select(m => (JsonNode)m)]) },
            }),
        }));
        app.MapPost("/v1/chat/completions", (HttpContext http) => Complete(methods, first, http, ChatRequest.Parse));
        app.MapPost("/v1/completions", (HttpContext http) => Complete(methods, first, http, CompletionRequest.Parse));
        ChatPage.Map(app);
        return app;
    }

    static async Task Complete(Dictionary<string, CtcChatClient> methods, CtcChatClient first, HttpContext http,
        Func<JsonNode?, OpenAiRequest> parse)
    {
        OpenAiRequest request;
        CtcChatClient? client;
        try
        {
            JsonNode? body = await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
            request = parse(body);
            client = request.Method is string m ? methods.GetValueOrDefault(m) : first;
            if (client is null)
                throw new BadRequestException($"method '{request.Method}' is not served here (methods: {string.Join(", ", methods.Keys)})", "method");
        }
        catch (JsonException e)
        {
            await Error(http, $"the request body is not valid JSON: {e.Message}", null);
            return;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.Text.DecoderFallbackException)
        {
            await Error(http, $"the request body is not valid UTF-8 JSON: {e.Message}", null);
            return;
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await Error(http, $"the request body is larger than the server's limit ({e.Message})", null, StatusCodes.Status413PayloadTooLarge);
            return;
        }
        catch (BadRequestException e)
        {
            await Error(http, e.Message, e.Param);
            return;
        }

        try
        {
            if (!request.Stream)
            {
                ChatResponse r = await request.Respond(client, http.RequestAborted);
                JsonObject body = Envelope(request.Object, r.ResponseId, r.CreatedAt, client.ModelId);
                body["choices"] = new JsonArray(Choice(request.Choice(r.Text), Logprobs(request, r.AdditionalProperties, client), Finish(r.FinishReason)));
                body["usage"] = Usage(r.Usage);
                AddStatistics(body, r.AdditionalProperties);
                await Results.Json(body).ExecuteAsync(http);
                return;
            }

            // Server-sent events: (chat's role chunk,) text chunks as tokens are committed, a finish chunk, [DONE].
            await using var events = new EventStream(http);
            bool started = false;
            await foreach (ChatResponseUpdate u in request.StreamResponse(client, http.RequestAborted))
            {
                JsonObject Chunk(JsonArray choices)
                {
                    JsonObject chunk = Envelope(request.ChunkObject, u.ResponseId, u.CreatedAt, client.ModelId);
                    chunk["choices"] = choices;
                    return chunk;
                }
                if (!started)
                {
                    // Accepted by the generator (decoding, or waiting for a slot): the headers go out now.
                    await events.Open();
                    if (request.Opening() is JsonObject opening) await events.Send(Chunk([Choice(opening, null, null)]));
                    started = true;
                }
                if (u.FinishReason is null && string.IsNullOrEmpty(u.Text)) continue;
                if (u.FinishReason is null)
                {
                    JsonObject text = Chunk([Choice(request.Delta(u.Text), null, null)]);
                    // How the chunk's token was made: 0 the base model's own, d >= 1 a draft token accepted at depth d.
                    if (u.AdditionalProperties?.TryGetValue(CtcChatClient.DepthKey, out object? depth) == true)
                        text["speculation"] = new JsonObject { ["depth"] = (int)depth! };
                    await events.Send(text);
                    continue;
                }
                // All tokens' log-probabilities come with the finish chunk (clients join the chunks' lists).
                JsonObject last = Chunk([Choice(request.Delta(""), Logprobs(request, u.AdditionalProperties, client), Finish(u.FinishReason))]);
                AddStatistics(last, u.AdditionalProperties);
                await events.Send(last);
                if (request.IncludeUsage)
                {
                    JsonObject usage = Chunk([]);
                    usage["usage"] = Usage(u.Contents.OfType<UsageContent>().FirstOrDefault()?.Details);
                    await events.Send(usage);
                }
            }
            await events.Done();
        }
        catch (RequestFieldException e) when (!http.Response.HasStarted)
        {
            // Validated where every caller's values are (SamplingOptions, GenerationRequest); named as the request named it.
            string field = request.FieldName(e.Field);
            await Error(http, e.Message.Contains(field) ? e.Message : $"{field}: {e.Message}", field);
        }
        catch (ArgumentException e) when (!http.Response.HasStarted)
        {
            // Raised before any text: a prompt too long for the context, or messages the chat template refuses.
            await Error(http, e.Message, request is ChatRequest ? "messages" : "prompt");
        }
        catch (QueueFullException e) when (!http.Response.HasStarted)
        {
            http.Response.Headers.RetryAfter = Math.Ceiling(e.RetryAfter.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
            await Error(http, e.Message, null, StatusCodes.Status429TooManyRequests);
        }
        catch (TimeoutException e) when (!http.Response.HasStarted)
        {
            http.Response.Headers.RetryAfter = "1";
            await Error(http, e.Message, null, StatusCodes.Status503ServiceUnavailable);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; its generation has been stopped.
        }
        catch (Exception e) when (http.Response.HasStarted && e is TimeoutException or ObjectDisposedException or InvalidDataException)
        {
            // The stream had begun (its headers go out once the request is accepted): the error is its last event.
            await http.Response.WriteAsync("data: " + ErrorObject(e.Message, null, "server_error").ToJsonString() + "\n\n");
        }
    }

    /// <summary>What every response and chunk starts with: OpenAI's <c>id</c>, <c>object</c>, <c>created</c> (Unix seconds) and <c>model</c>.</summary>
    static JsonObject Envelope(string type, string? id, DateTimeOffset? created, string model) => new()
    {
        ["id"] = id,
        ["object"] = type,
        ["created"] = (created ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds(),
        ["model"] = model,
    };

    static JsonObject Choice(JsonObject fields, JsonObject? logprobs, string? finish)
    {
        var choice = new JsonObject { ["index"] = 0 };
        foreach (var (name, value) in fields) choice[name] = value?.DeepClone();
        choice["logprobs"] = logprobs;
        choice["finish_reason"] = finish;
        return choice;
    }

    /// <summary>The endpoint's log-probabilities when the request asked for them, else null.</summary>
    static JsonObject? Logprobs(OpenAiRequest request, AdditionalPropertiesDictionary? p, CtcChatClient client) =>
        p is not null && p.TryGetValue(CtcChatClient.LogprobsKey, out object? value) && value is IReadOnlyList<TokenLogprob> items
            ? request.Logprobs(items, client.Tokenizer)
            : null;

    static string? Finish(ChatFinishReason? reason) =>
        reason is null ? null : reason == ChatFinishReason.Length ? "length" : "stop";

    static JsonObject Usage(UsageDetails? u) => new()
    {
        ["prompt_tokens"] = u?.InputTokenCount ?? 0,
        ["completion_tokens"] = u?.OutputTokenCount ?? 0,
        ["total_tokens"] = u?.TotalTokenCount ?? 0,
        // Prompt tokens whose keys and values the server's sequence already held from the previous request (the
        // common prefix of a conversation's next turn), so not run again.
        ["prompt_tokens_details"] = new JsonObject { ["cached_tokens"] = u?.CachedInputTokenCount ?? 0 },
    };

    /// <summary>
    /// <c>timings</c> in llama.cpp server's names (<c>cache_n</c> prompt tokens reused, <c>prompt_n</c> run, and
    /// <c>predicted_n</c> generated, with their milliseconds and tokens per second) and <c>speculation</c>: the
    /// method, base forward passes after the prefill (<c>steps</c>), <c>tau</c> = generated tokens per step, and
    /// <c>acceptance_per_depth[d]</c> = the share of steps whose accepted draft reached depth d + 1.
    /// </summary>
    static void AddStatistics(JsonObject body, AdditionalPropertiesDictionary? p)
    {
        if (p?.TryGetValue(CtcChatClient.StatsKey, out object? value) != true || value is not GenerationStats s) return;
        body["timings"] = new JsonObject
        {
            ["cache_n"] = s.CachedTokens,
            ["prompt_n"] = s.PrefillTokens,
            ["prompt_ms"] = Math.Round(s.PrefillMs, 3),
            ["prompt_per_second"] = s.PrefillMs <= 0 ? 0 : Math.Round(s.PrefillTokens / (s.PrefillMs / 1000), 2),
            ["predicted_n"] = s.NewTokens,
            ["predicted_ms"] = Math.Round(s.DecodeMs, 3),
            ["predicted_per_second"] = Math.Round(s.TokensPerSecond, 2),
        };
        body["speculation"] = new JsonObject
        {
            ["method"] = s.Method,
            ["steps"] = s.Steps,
            ["tau"] = Math.Round(s.Tau, 3),
            ["acceptance_per_depth"] = new JsonArray([.. s.AcceptedPerDepth.Select(n => (JsonNode)Math.Round((double)n / s.Steps, 4))]),
        };
    }

    static Task Error(HttpContext http, string message, string? param, int status = StatusCodes.Status400BadRequest) =>
        Results.Json(ErrorObject(message, param), statusCode: status).ExecuteAsync(http);

    static JsonObject ErrorObject(string message, string? param, string type = "invalid_request_error") => new()
    {
        ["error"] = new JsonObject { ["message"] = message, ["type"] = type, ["param"] = param, ["code"] = null },
    };

    static string ReasonOf(int status) => status switch
    {
        404 => "no such endpoint (POST /v1/chat/completions, POST /v1/completions, GET /v1/models, GET /health, GET / the chat page)",
        405 => "method not allowed on this endpoint",
        413 => "request body too large",
        429 => "too many requests",
        _ => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status),
    };

    /// <summary>text/event-stream: each event a "data: JSON" line and a blank line, flushed at once.</summary>
    sealed class EventStream(HttpContext http) : IAsyncDisposable
    {
        bool _started;

        /// <summary>Sends the status and headers.</summary>
        public async Task Open()
        {
            if (_started) return;
            http.Response.ContentType = "text/event-stream";
            http.Response.Headers.CacheControl = "no-cache";
            _started = true;
            await http.Response.StartAsync(http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }

        public async Task Send(JsonNode data)
        {
            await Open();
            await http.Response.WriteAsync("data: " + data.ToJsonString() + "\n\n", http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }

        public Task Done() => http.Response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
