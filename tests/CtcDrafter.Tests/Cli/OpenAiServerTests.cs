using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CtcDrafter.Chat;
using CtcDrafter.Cli.Server;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Cli;

/// <summary>The OpenAI-compatible server on ref-s with its ctc draft, over real HTTP on a free local port.</summary>
public sealed class OpenAiServerTests : IAsyncLifetime
{
    TestServer _server = null!;
    LlamaModel _model = null!;
    CtcChatClient _client = null!;
    HttpClient _http = null!;
    const string Question = "What should I pack for a trip to the mountains?";

    public async Task InitializeAsync()
    {
        _server = await TestServer.Start();
        (_model, _client, _http) = (_server.Model, _server.Ctc, _server.Http);
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    Task<HttpResponseMessage> Post(string json, string path = "/v1/chat/completions") =>
        _http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    static async Task<JsonNode> Json(HttpResponseMessage r)
    {
        string text = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, text);
        return JsonNode.Parse(text)!;
    }

    static async Task<JsonNode[]> Events(HttpResponseMessage r)
    {
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/event-stream", r.Content.Headers.ContentType!.MediaType);
        string[] events = (await r.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        return [.. events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!)];
    }

    GenerationResult PlainCompletion(string prompt, int maxTokens, int? logprobs = null) =>
        new Generator(_model).Generate(new GenerationRequest(_model.Tokenizer!.Encode(prompt, addBos: true), maxTokens, SamplingOptions.Greedy) { Logprobs = logprobs });

    static void AssertIdAndCreated(JsonNode body, string prefix)
    {
        Assert.StartsWith(prefix, (string?)body["id"]);
        Assert.InRange((long)body["created"]!, DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 120, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.Equal("ref-s", (string?)body["model"]);
    }

    string GreedyText(int maxTokens)
    {
        string prompt = ChatTemplate.Get("vicuna_v1.1").Render([new("user", Question)], addGenerationPrompt: true);
        return new Generator(_model).Generate(new GenerationRequest(_model.Tokenizer!.Encode(prompt, addBos: true, parseSpecial: true), maxTokens, SamplingOptions.Greedy)).Text;
    }

    [Fact]
    public async Task ChatCompletionIsTheBaseModelsGreedyAnswer()
    {
        var r = await Post($$"""{"model": "ref-s", "messages": [{"role": "user", "content": "{{Question}}"}], "max_tokens": 32, "temperature": 0}""");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        JsonNode body = JsonNode.Parse(await r.Content.ReadAsStringAsync())!;
        Assert.Equal("chat.completion", (string?)body["object"]);
        Assert.Equal(GreedyText(32), (string?)body["choices"]![0]!["message"]!["content"]);
        Assert.Equal(32, (int?)body["usage"]!["completion_tokens"]);
        Assert.Equal("length", (string?)body["choices"]![0]!["finish_reason"]);
        AssertIdAndCreated(body, "chatcmpl-");
    }

    [Fact]
    public async Task ResponsesCarryUsageTimingsAndSpeculation()
    {
        var first = new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = Question }),
            ["max_tokens"] = 24, ["temperature"] = 0,
        };
        JsonNode a = await Json(await Post(first.ToJsonString()));
        JsonNode usage = a["usage"]!, timings = a["timings"]!, speculation = a["speculation"]!;
        Assert.Equal((int)usage["prompt_tokens"]! + (int)usage["completion_tokens"]!, (int)usage["total_tokens"]!);
        Assert.Equal(0, (int)usage["prompt_tokens_details"]!["cached_tokens"]!); // a fresh server: nothing to reuse
        Assert.Equal((int)usage["prompt_tokens"]!, (int)timings["prompt_n"]!);
        Assert.Equal(24, (int)timings["predicted_n"]!);
        Assert.True((double)timings["prompt_ms"]! > 0 && (double)timings["predicted_ms"]! > 0);
        Assert.Equal(24 / ((double)timings["predicted_ms"]! / 1000), (double)timings["predicted_per_second"]!, 24 / ((double)timings["predicted_ms"]! / 1000) * 0.01);
        Assert.True((double)timings["prompt_per_second"]! > 0);

        Assert.Equal("ctc", (string?)speculation["method"]);
        int steps = (int)speculation["steps"]!;
        Assert.Equal(24.0 / steps, (double)speculation["tau"]!, 3);
        double[] acceptance = [.. speculation["acceptance_per_depth"]!.AsArray().Select(x => (double)x!)];
        Assert.NotEmpty(acceptance); // the trained ctc draft gets some tokens accepted on this prompt
        Assert.All(acceptance, x => Assert.InRange(x, 0, 1));
        Assert.Equal(acceptance.OrderByDescending(x => x), acceptance); // reaching depth d + 1 means having reached d

        // The conversation's next turn: its prompt starts with the whole previous one, which the server still holds.
        var next = (JsonObject)first.DeepClone();
        next["messages"]!.AsArray().Add(new JsonObject { ["role"] = "assistant", ["content"] = (string?)a["choices"]![0]!["message"]!["content"] });
        next["messages"]!.AsArray().Add(new JsonObject { ["role"] = "user", ["content"] = "And for the beach?" });
        JsonNode b = await Json(await Post(next.ToJsonString()));
        int cached = (int)b["usage"]!["prompt_tokens_details"]!["cached_tokens"]!;
        Assert.True(cached >= (int)usage["prompt_tokens"]!, $"cached {cached}");
        Assert.Equal((int)b["usage"]!["prompt_tokens"]! - cached, (int)b["timings"]!["prompt_n"]!);
        Assert.Equal(cached, (int)b["timings"]!["cache_n"]!);
        Assert.NotEqual((string?)a["id"], (string?)b["id"]);
    }

    [Fact]
    public async Task StreamedChunksSayHowTheirTokenWasMade()
    {
        JsonNode[] chunks = await Events(await Post($$"""{"messages": [{"role": "user", "content": "{{Question}}"}], "max_tokens": 40, "temperature": 0, "stream": true}"""));
        JsonNode[] text = [.. chunks.Where(c => c["speculation"]?["depth"] is not null)];
        Assert.Equal(GreedyText(40), string.Concat(text.Select(c => (string?)c["choices"]![0]!["delta"]!["content"])));
        Speculative.TextPieceTests.AssertStepShaped([.. text.Select(c => (int)c["speculation"]!["depth"]!)]);

        JsonNode model = (await Json(await _http.GetAsync("/v1/models")))["data"]![0]!;
        Assert.Equal(["ctc", "vanilla"], model["speculation"]!["methods"]!.AsArray().Select(m => (string?)m));
    }

    [Fact]
    public async Task ARequestPicksOneOfTheServersMethods()
    {
        string Body(string method) => $$"""{"messages": [{"role": "user", "content": "{{Question}}"}], "max_tokens": 24, "temperature": 0, "stream": true, "method": "{{method}}"}""";
        JsonNode[] chunks = await Events(await Post(Body("vanilla")));
        JsonNode[] text = [.. chunks.Where(c => c["speculation"]?["depth"] is not null)];
        Assert.Equal(GreedyText(24), string.Concat(text.Select(c => (string?)c["choices"]![0]!["delta"]!["content"])));
        Assert.All(text, c => Assert.Equal(0, (int)c["speculation"]!["depth"]!));
        Assert.Equal("vanilla", (string?)chunks[^1]["speculation"]!["method"]);

        JsonNode plain = await Json(await Post("""{"prompt": "Once upon a time", "max_tokens": 8, "method": "vanilla"}""", "/v1/completions"));
        Assert.Equal("vanilla", (string?)plain["speculation"]!["method"]);

        await AssertBadRequest(await Post(Body("eagle")), "method"); // a known method this server did not load
        await AssertBadRequest(await Post("""{"prompt": "hi", "method": 3}""", "/v1/completions"), "method");
    }

    [Fact]
    public async Task CompletionsContinuePlainTextWithoutATemplate()
    {
        const string prompt = "Once upon a time";
        var expected = PlainCompletion(prompt, 20, logprobs: 2);
        JsonNode body = await Json(await Post($$"""{"prompt": "{{prompt}}", "max_tokens": 20, "temperature": 0, "logprobs": 2}""", "/v1/completions"));
        Assert.Equal("text_completion", (string?)body["object"]);
        AssertIdAndCreated(body, "cmpl-");
        JsonNode choice = body["choices"]![0]!;
        Assert.Equal(expected.Text, (string?)choice["text"]);
        Assert.Equal("length", (string?)choice["finish_reason"]);
        Assert.Equal(20, (int)body["usage"]!["completion_tokens"]!);
        Assert.Equal(expected.Logprobs!.Select(l => l.Logprob), choice["logprobs"]!["token_logprobs"]!.AsArray().Select(x => (float)x!));
        Assert.Equal(20, choice["logprobs"]!["tokens"]!.AsArray().Count);
        Assert.All(choice["logprobs"]!["top_logprobs"]!.AsArray(), top => Assert.InRange(top!.AsObject().Count, 1, 2));
        Assert.Equal("ctc", (string?)body["speculation"]!["method"]);

        JsonNode[] chunks = await Events(await Post($$$"""{"prompt": "{{{prompt}}}", "max_tokens": 20, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}""", "/v1/completions"));
        Assert.All(chunks, c => Assert.Equal("text_completion", (string?)c["object"]));
        Assert.Equal(expected.Text, string.Concat(chunks.Where(c => c["choices"]!.AsArray().Count > 0).Select(c => (string?)c["choices"]![0]!["text"])));
        Assert.Equal("length", (string?)chunks[^2]["choices"]![0]!["finish_reason"]);
        Assert.Equal(20, (int)chunks[^1]["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task FieldsAtTheValueThatAsksForNothingAreAccepted()
    {
        JsonNode body = await Json(await Post("""
            {"model": "anything", "user": "u-1", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "n": 1,
             "presence_penalty": 0, "frequency_penalty": 0, "logit_bias": {}, "response_format": {"type": "text"}, "tools": null}
            """));
        Assert.Equal(4, (int)body["usage"]!["completion_tokens"]!);
        body = await Json(await Post("""{"prompt": "hi", "max_tokens": 4, "echo": false, "best_of": 1, "user": "u-1"}""", "/v1/completions"));
        Assert.Equal(4, (int)body["usage"]!["completion_tokens"]!);
    }

    [Fact]
    public async Task EveryErrorStatusCarriesOpenAisErrorObject()
    {
        async Task AssertError(HttpResponseMessage r, HttpStatusCode status)
        {
            Assert.Equal(status, r.StatusCode);
            JsonNode error = JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!;
            Assert.False(string.IsNullOrEmpty((string?)error["message"]));
            Assert.Equal("invalid_request_error", (string?)error["type"]);
        }
        await AssertError(await _http.GetAsync("/v1/nothing"), HttpStatusCode.NotFound);
        await AssertError(await _http.GetAsync("/v1/chat/completions"), HttpStatusCode.MethodNotAllowed);
        var notUtf8 = new ByteArrayContent([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]);
        notUtf8.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        await AssertError(await _http.PostAsync("/v1/chat/completions", notUtf8), HttpStatusCode.BadRequest);
        // A body over the limit (a small one here, so that the client's whole body is sent before the answer).
        await using (var small = OpenAiServer.Build([_client], "http://127.0.0.1:0", maxRequestBytes: 2048))
        {
            await small.StartAsync();
            using var http = new HttpClient { BaseAddress = new Uri(small.Urls.First()) };
            string big = new string('a', 3000);
            await AssertError(await http.PostAsync("/v1/chat/completions",
                new StringContent($$"""{"messages": [{"role": "user", "content": "{{big}}"}]}""", Encoding.UTF8, "application/json")),
                HttpStatusCode.RequestEntityTooLarge);
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health")).StatusCode);
            await small.StopAsync();
        }
    }

    [Fact]
    public async Task LogprobsAreThoseOfPlainDecoding()
    {
        var r = await Post($$"""{"messages": [{"role": "user", "content": "{{Question}}"}], "max_tokens": 16, "temperature": 0, "logprobs": true, "top_logprobs": 3}""");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        JsonArray content = JsonNode.Parse(await r.Content.ReadAsStringAsync())!["choices"]![0]!["logprobs"]!["content"]!.AsArray();
        string prompt = ChatTemplate.Get("vicuna_v1.1").Render([new("user", Question)], addGenerationPrompt: true);
        var plain = new Generator(_model).Generate(new GenerationRequest(_model.Tokenizer!.Encode(prompt, addBos: true, parseSpecial: true), 16, SamplingOptions.Greedy) { Logprobs = 3 });
        Assert.Equal(plain.Logprobs!.Count, content.Count);
        for (int i = 0; i < content.Count; i++)
        {
            Assert.Equal(plain.Logprobs[i].Logprob, (float)content[i]!["logprob"]!);
            Assert.Equal(3, content[i]!["top_logprobs"]!.AsArray().Count);
        }
        var bad = await Post("""{"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 50}""");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("top_logprobs", (string?)JsonNode.Parse(await bad.Content.ReadAsStringAsync())!["error"]!["param"]);
        bad = await Post("""{"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 0}""");
        Assert.Equal("max_completion_tokens", (string?)JsonNode.Parse(await bad.Content.ReadAsStringAsync())!["error"]!["param"]);
    }

    [Fact]
    public async Task StreamingSendsServerSentEventsEndingWithDone()
    {
        JsonNode[] chunks = await Events(await Post($$$"""{"messages": [{"role": "user", "content": [{"type": "text", "text": "{{{Question}}}"}]}], "max_tokens": 24, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}"""));
        string text = string.Concat(chunks.Where(c => c["choices"]!.AsArray().Count > 0).Select(c => (string?)c["choices"]![0]!["delta"]!["content"] ?? ""));
        Assert.Equal(GreedyText(24), text);
        Assert.Equal("assistant", (string?)chunks[0]["choices"]![0]!["delta"]!["role"]);
        Assert.Equal("length", (string?)chunks[^2]["choices"]![0]!["finish_reason"]);
        Assert.Equal(24, (int?)chunks[^1]["usage"]!["completion_tokens"]);
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", (string?)c["object"]));
        Assert.Single(chunks.Select(c => (string?)c["id"]).Distinct());
        Assert.Single(chunks.Select(c => (long)c["created"]!).Distinct());
        AssertIdAndCreated(chunks[0], "chatcmpl-");
        Assert.Equal("ctc", (string?)chunks[^2]["speculation"]!["method"]);
        Assert.Equal(24, (int)chunks[^2]["timings"]!["predicted_n"]!);
    }

    [Theory]
    [InlineData("not json", null)]
    [InlineData("[1, 2]", null)]
    [InlineData("""{"messages": []}""", "messages")]
    [InlineData("""{"messages": [{"role": "tool", "content": "x"}]}""", "messages[0].role")]
    [InlineData("""{"messages": [{"role": "user", "content": 5}]}""", "messages[0].content")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}""", "temperature")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}""", "max_tokens")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "n": 2}""", "n")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "stop": [1]}""", "stop")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f"}}]}""", "tools")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto"}""", "tool_choice")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "functions": []}""", "functions")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}}""", "response_format")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "logit_bias": {"42": 5}}""", "logit_bias")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "presence_penalty": 0.5}""", "presence_penalty")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "frequency_penalty": 1}""", "frequency_penalty")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "store": true}""", "store")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "temprature": 0}""", "temprature")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi", "name": "ann"}]}""", "messages[0].name")]
    [InlineData("""{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}""", "messages[0].content[0]")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "stream_options": {"include_usage": true}}""", "stream_options")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "stream": true, "stream_options": {"include_obfuscation": true}}""", "stream_options.include_obfuscation")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "logprobs": true, "top_logprobs": 21}""", "top_logprobs")]
    public async Task BadRequestsGetAnOpenAiErrorNamingTheProblem(string body, string? param) => await AssertBadRequest(await Post(body), param);

    [Theory]
    [InlineData("""{"max_tokens": 4}""", "prompt")]
    [InlineData("""{"prompt": ["a", "b"]}""", "prompt")]
    [InlineData("""{"prompt": "hi", "echo": true}""", "echo")]
    [InlineData("""{"prompt": "hi", "suffix": "end"}""", "suffix")]
    [InlineData("""{"prompt": "hi", "best_of": 2}""", "best_of")]
    [InlineData("""{"prompt": "hi", "n": 3}""", "n")]
    [InlineData("""{"prompt": "hi", "logit_bias": {"42": -100}}""", "logit_bias")]
    [InlineData("""{"prompt": "hi", "logprobs": 30}""", "logprobs")]
    [InlineData("""{"prompt": "hi", "max_tokens": -1}""", "max_tokens")]
    [InlineData("""{"prompt": "hi", "messages": []}""", "messages")]
    public async Task BadCompletionRequestsGetAnErrorNamingTheField(string body, string param) =>
        await AssertBadRequest(await Post(body, "/v1/completions"), param);

    static async Task AssertBadRequest(HttpResponseMessage r, string? param)
    {
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        JsonNode error = JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("invalid_request_error", (string?)error["type"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)error["message"]));
        Assert.Equal(param, (string?)error["param"]);
        if (param is not null) Assert.Contains(param, (string?)error["message"]);
    }

    [Fact]
    public async Task APromptLongerThanTheContextIsABadRequest()
    {
        string longText = string.Join(' ', Enumerable.Repeat("mountain", 3000));
        var r = await Post(new JsonObject { ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = longText }) }.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains("context", (string?)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!["message"]);
    }

    [Fact]
    public async Task AHugePromptIsRefusedByItsLengthBeforeTokenizing()
    {
        string huge = string.Concat(Enumerable.Repeat("mountains ", 300_000)); // 3 MB, under the request limit
        var r = await Post(new JsonObject { ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = huge }) }.ToJsonString());
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        Assert.Contains("the prompt has at least", (string?)JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!["message"]);
    }

    [Fact]
    public async Task ListsTheServedModel()
    {
        JsonNode body = JsonNode.Parse(await _http.GetStringAsync("/v1/models"))!;
        Assert.Equal("ref-s", (string?)body["data"]![0]!["id"]);
    }
}
