using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CtcDrafter.Chat;
using CtcDrafter.Cli.Server;
using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;
using Microsoft.AspNetCore.Builder;

namespace CtcDrafter.Tests.Cli;

/// <summary>The OpenAI-compatible server on ref-s with its ctc draft, over real HTTP on a free local port.</summary>
public sealed class OpenAiServerTests : IAsyncLifetime
{
    LlamaModel _model = null!;
    CtcChatClient _client = null!;
    WebApplication _app = null!;
    HttpClient _http = null!;
    const string Question = "What should I pack for a trip to the mountains?";

    public async Task InitializeAsync()
    {
        string folder = Path.Combine(TestData.RepoRoot, "models", "ref-s");
        _model = LlamaModel.Load(folder);
        _client = new CtcChatClient(_model, ChatTemplate.Get("vicuna_v1.1"), DrafterFactory.Create("ctc", _model, Path.Combine(folder, "draft-ctc")));
        _app = OpenAiServer.Build(_client, "http://127.0.0.1:0");
        await _app.StartAsync();
        _http = new HttpClient { BaseAddress = new Uri(_app.Urls.First()) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _client.Dispose();
        _model.Dispose();
    }

    Task<HttpResponseMessage> Post(string json) =>
        _http.PostAsync("/v1/chat/completions", new StringContent(json, Encoding.UTF8, "application/json"));

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
        Assert.Equal("ctc", (string?)body["ctcdrafter"]!["method"]);
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
        await using (var small = OpenAiServer.Build(_client, "http://127.0.0.1:0", maxRequestBytes: 2048))
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
        var r = await Post($$$"""{"messages": [{"role": "user", "content": [{"type": "text", "text": "{{{Question}}}"}]}], "max_tokens": 24, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}""");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/event-stream", r.Content.Headers.ContentType!.MediaType);
        string[] events = (await r.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e));
        Assert.Equal("data: [DONE]", events[^1]);
        JsonNode[] chunks = [.. events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!)];
        string text = string.Concat(chunks.Where(c => c["choices"]!.AsArray().Count > 0).Select(c => (string?)c["choices"]![0]!["delta"]!["content"] ?? ""));
        Assert.Equal(GreedyText(24), text);
        Assert.Equal("assistant", (string?)chunks[0]["choices"]![0]!["delta"]!["role"]);
        Assert.Equal("length", (string?)chunks[^2]["choices"]![0]!["finish_reason"]);
        Assert.Equal(24, (int?)chunks[^1]["usage"]!["completion_tokens"]);
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
    public async Task BadRequestsGetAnOpenAiErrorNamingTheProblem(string body, string? param)
    {
        var r = await Post(body);
        Assert.Equal(HttpStatusCode.BadRequest, r.StatusCode);
        JsonNode error = JsonNode.Parse(await r.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal("invalid_request_error", (string?)error["type"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)error["message"]));
        Assert.Equal(param, (string?)error["param"]);
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
