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
using AiMessage = Microsoft.Extensions.AI.ChatMessage;

namespace CtcDrafter.Cli.Server;

/// <summary>
/// An OpenAI-compatible HTTP server over a <see cref="CtcChatClient"/>: <c>GET /v1/models</c>,
/// <c>POST /v1/chat/completions</c> (JSON, or server-sent events with <c>"stream": true</c>) and <c>GET /health</c>.
/// Requests are served one generation at a time. Bad requests get status 400 with OpenAI's error object
/// <c>{"error": {"message", "type": "invalid_request_error", "param", "code"}}</c> naming the problem.
/// </summary>
static class OpenAiServer
{
    /// <summary>The default bound on a request body, well under Kestrel's 30 MB: a prompt this large cannot fit any context here.</summary>
    public const long DefaultMaxRequestBytes = 4 << 20;

    public static WebApplication Build(CtcChatClient client, string url, long maxRequestBytes = DefaultMaxRequestBytes)
    {
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
            ["data"] = new JsonArray(new JsonObject { ["id"] = client.ModelId, ["object"] = "model", ["created"] = created, ["owned_by"] = "ctcdrafter" }),
        }));
        app.MapPost("/v1/chat/completions", (HttpContext http) => Complete(client, http));
        return app;
    }

    static async Task Complete(CtcChatClient client, HttpContext http)
    {
        ChatRequest request;
        try
        {
            JsonNode? body = await JsonNode.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
            request = ChatRequest.Parse(body);
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

        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        try
        {
            if (!request.Stream)
            {
                ChatResponse r = await client.GetResponseAsync(request.Messages, request.Options, http.RequestAborted);
                await Results.Json(new JsonObject
                {
                    ["id"] = id,
                    ["object"] = "chat.completion",
                    ["created"] = created,
                    ["model"] = client.ModelId,
                    ["choices"] = new JsonArray(new JsonObject
                    {
                        ["index"] = 0,
                        ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = r.Text },
                        ["logprobs"] = Logprobs(r.AdditionalProperties, client),
                        ["finish_reason"] = Finish(r.FinishReason),
                    }),
                    ["usage"] = Usage(r.Usage),
                    ["ctcdrafter"] = Statistics(r.AdditionalProperties),
                }).ExecuteAsync(http);
                return;
            }

            // Server-sent events: a role chunk, content chunks as tokens are committed, a finish chunk, [DONE].
            await using var events = new EventStream(http);
            JsonObject Chunk(JsonObject delta, string? finish) => new()
            {
                ["id"] = id,
                ["object"] = "chat.completion.chunk",
                ["created"] = created,
                ["model"] = client.ModelId,
                ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["delta"] = delta, ["finish_reason"] = finish }),
            };
            bool started = false;
            await foreach (ChatResponseUpdate u in client.GetStreamingResponseAsync(request.Messages, request.Options, http.RequestAborted))
            {
                if (!started)
                {
                    await events.Send(Chunk(new JsonObject { ["role"] = "assistant", ["content"] = "" }, null));
                    started = true;
                }
                if (u.FinishReason is null)
                {
                    await events.Send(Chunk(new JsonObject { ["content"] = u.Text }, null));
                    continue;
                }
                JsonObject last = Chunk(new JsonObject(), Finish(u.FinishReason));
                // All tokens' log-probabilities come with the finish chunk (clients join the chunks' lists).
                if (Logprobs(u.AdditionalProperties, client) is JsonObject logprobs) last["choices"]![0]!["logprobs"] = logprobs;
                last["ctcdrafter"] = Statistics(u.AdditionalProperties);
                await events.Send(last);
                if (request.IncludeUsage)
                {
                    JsonObject usage = Chunk(new JsonObject(), null);
                    usage["choices"] = new JsonArray();
                    usage["usage"] = Usage(u.Contents.OfType<UsageContent>().FirstOrDefault()?.Details);
                    await events.Send(usage);
                }
            }
            await events.Done();
        }
        catch (RequestFieldException e) when (!http.Response.HasStarted)
        {
            // Validated where every caller's values are (SamplingOptions, GenerationRequest); named as the request named it.
            await Error(http, e.Message, e.Field == "max_tokens" ? request.MaxTokensField : e.Field);
        }
        catch (ArgumentException e) when (!http.Response.HasStarted)
        {
            // Raised before any text: a prompt too long for the context, or messages the chat template refuses.
            await Error(http, e.Message, "messages");
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away; the generation has been stopped.
        }
    }

    /// <summary>OpenAI's <c>{"content": [...]}</c> when the request asked for log-probabilities, else null.</summary>
    static JsonObject? Logprobs(AdditionalPropertiesDictionary? p, CtcChatClient client) =>
        p is not null && p.TryGetValue(CtcChatClient.LogprobsKey, out object? value) && value is IReadOnlyList<TokenLogprob> items
            ? new JsonObject { ["content"] = new JsonArray(items.Select(i => (JsonNode)Cli.Commands.GenerateCommand.Logprob(i, client.Tokenizer)).ToArray()) }
            : null;

    static string? Finish(ChatFinishReason? reason) =>
        reason is null ? null : reason == ChatFinishReason.Length ? "length" : "stop";

    static JsonObject Usage(UsageDetails? u) => new()
    {
        ["prompt_tokens"] = u?.InputTokenCount ?? 0,
        ["completion_tokens"] = u?.OutputTokenCount ?? 0,
        ["total_tokens"] = u?.TotalTokenCount ?? 0,
    };

    static JsonObject Statistics(AdditionalPropertiesDictionary? p) => new()
    {
        ["method"] = p?["method"]?.ToString(),
        ["tau"] = p is not null && p.TryGetValue("tau", out object? tau) ? Math.Round((double)tau!, 3) : null,
        ["tokens_per_second"] = p is not null && p.TryGetValue("tokensPerSecond", out object? tps) ? Math.Round((double)tps!, 1) : null,
    };

    static Task Error(HttpContext http, string message, string? param, int status = StatusCodes.Status400BadRequest) =>
        Results.Json(new JsonObject
        {
            ["error"] = new JsonObject { ["message"] = message, ["type"] = "invalid_request_error", ["param"] = param, ["code"] = null },
        }, statusCode: status).ExecuteAsync(http);

    static string ReasonOf(int status) => status switch
    {
        404 => "no such endpoint (POST /v1/chat/completions, GET /v1/models, GET /health)",
        405 => "method not allowed on this endpoint",
        413 => "request body too large",
        _ => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status),
    };

    /// <summary>text/event-stream: each event a "data: JSON" line and a blank line, flushed at once.</summary>
    sealed class EventStream(HttpContext http) : IAsyncDisposable
    {
        bool _started;

        public async Task Send(JsonNode data)
        {
            if (!_started)
            {
                http.Response.ContentType = "text/event-stream";
                http.Response.Headers.CacheControl = "no-cache";
                _started = true;
            }
            await http.Response.WriteAsync("data: " + data.ToJsonString() + "\n\n", http.RequestAborted);
            await http.Response.Body.FlushAsync(http.RequestAborted);
        }

        public Task Done() => http.Response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
