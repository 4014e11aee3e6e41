using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CtcDrafter.Generation;

namespace CtcDrafter.Tests.Cli;

/// <summary>The server's slots over real HTTP: concurrent requests decoded together, a bounded queue, disconnects.</summary>
/// <remarks>Run alone, not beside other test classes: one test measures the process's managed memory.</remarks>
[Collection(nameof(ServerSlotsTests))]
[CollectionDefinition(nameof(ServerSlotsTests), DisableParallelization = true)]
public class ServerSlotsTests
{
    static readonly string[] Questions =
    [
        "What should I pack for a trip to the mountains?", "Tell me a story about a dog.", "How do plants grow?",
        "Write a poem about the sea.", "What is two plus two?", "Why is the sky blue?", "Describe a busy market.",
        "How do I bake bread?",
    ];

    static string Body(string question, string method, int maxTokens, bool stream) =>
        new JsonObject
        {
            ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = question }),
            ["max_tokens"] = maxTokens, ["temperature"] = 0, ["stream"] = stream, ["method"] = method,
        }.ToJsonString();

    static Task<HttpResponseMessage> Post(HttpClient http, string json, HttpCompletionOption read = HttpCompletionOption.ResponseContentRead,
        CancellationToken cancel = default) =>
        http.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(json, Encoding.UTF8, "application/json") }, read, cancel);

    static async Task<string> StreamedText(HttpResponseMessage r)
    {
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        string[] events = (await r.Content.ReadAsStringAsync()).Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("data: [DONE]", events[^1]);
        return string.Concat(events[..^1].Select(e => JsonNode.Parse(e["data: ".Length..])!["choices"]!.AsArray())
            .Where(c => c.Count > 0).Select(c => (string?)c[0]!["delta"]!["content"] ?? ""));
    }

    /// <summary>32 concurrent streaming requests at temperature 0 (8 questions, ctc and plain decoding) each get exactly the text of the same request sent alone.</summary>
    [Fact]
    public async Task ConcurrentStreamsEachGetTheTextTheyGetAlone()
    {
        await using var server = await TestServer.Start(new BatchOptions { Parallel = 4 });
        var requests = Enumerable.Range(0, 32).Select(i => Body(Questions[i % 8], i % 2 == 0 ? "ctc" : "vanilla", 24 + i % 3 * 8, stream: true)).ToArray();
        string[] together = await Task.WhenAll(requests.Select(async b => await StreamedText(await Post(server.Http, b))));
        for (int i = 0; i < requests.Length; i++)
            Assert.Equal(await StreamedText(await Post(server.Http, requests[i])), together[i]);
        Assert.True(together.Distinct().Count() >= 8, "the requests should not all be the same answer");
    }

    /// <summary>
    /// One slot and a queue of one: the waiting streaming request has its headers and role chunk at once; a third
    /// request gets 429 with Retry-After; a disconnect frees the slot for the waiting one.
    /// </summary>
    [Fact]
    public async Task BeyondTheQueueA429AndADisconnectFreesItsSlot()
    {
        await using var server = await TestServer.Start(new BatchOptions { Parallel = 1, Queue = 1 });
        using var leave = new CancellationTokenSource();
        HttpResponseMessage streaming = await Post(server.Http, Body(Questions[0], "vanilla", 100_000, stream: true), HttpCompletionOption.ResponseHeadersRead, leave.Token);
        var reader = new StreamReader(await streaming.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync()); // decoding in the slot
        HttpResponseMessage waiting = await Post(server.Http, Body(Questions[1], "ctc", 16, stream: true), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, waiting.StatusCode);
        Assert.Equal((1, 1), server.Engine.Load());

        HttpResponseMessage refused = await Post(server.Http, Body(Questions[2], "ctc", 16, stream: false));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "Retry-After in seconds");
        JsonNode error = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!["error"]!;
        Assert.Contains("requests are already waiting", (string?)error["message"]);

        leave.Cancel(); // the streaming client disconnects: its sequence ends at the next step
        streaming.Dispose();
        Assert.False(string.IsNullOrEmpty(await StreamedText(waiting)));
        for (int i = 0; i < 400 && server.Engine.Load() != (0, 0); i++) await Task.Delay(10);
        Assert.Equal((0, 0), server.Engine.Load());
    }

    /// <summary>
    /// A time limit of 0.3 s and one slot: the generating request ends with finish_reason "length"; of the four
    /// behind it, those still waiting after 0.3 s get 503 with Retry-After, or, streaming (their headers already
    /// sent), an error event; the others are answered.
    /// </summary>
    [Fact]
    public async Task TheTimeLimitEndsAGenerationAndRefusesAWaitingRequest()
    {
        await using var server = await TestServer.Start(new BatchOptions { Parallel = 1, Timeout = TimeSpan.FromSeconds(0.3) });
        Task<HttpResponseMessage> running = Post(server.Http, Body(Questions[0], "vanilla", 100_000, stream: false));
        for (int i = 0; i < 400 && server.Engine.Load().Active == 0; i++) await Task.Delay(5);
        Task<HttpResponseMessage>[] waiting = [.. Enumerable.Range(1, 4).Select(i => Post(server.Http, Body(Questions[i], "vanilla", 200, stream: i % 2 == 0)))];

        string body = await (await running).Content.ReadAsStringAsync();
        Assert.Equal("length", (string?)JsonNode.Parse(body)!["choices"]![0]!["finish_reason"]);
        int refused = 0;
        foreach (Task<HttpResponseMessage> w in waiting)
        {
            HttpResponseMessage r = await w;
            string text = await r.Content.ReadAsStringAsync();
            if (r.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                Assert.NotNull(r.Headers.RetryAfter);
                Assert.Contains("time limit", text);
                refused++;
            }
            else if (text.Contains("\"server_error\""))
            {
                Assert.Contains("time limit", text);
                refused++;
            }
            else Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
        Assert.True(refused >= 2, $"{refused} of 4 waiting requests were refused");
    }

    /// <summary>200 requests, a third of them abandoned mid-stream: the managed memory after them is within 10 % of what it is after the first 20.</summary>
    [Fact]
    public async Task ManyRequestsWithDisconnectsDoNotGrowMemory()
    {
        await using var server = await TestServer.Start(new BatchOptions { Parallel = 4 });
        var rng = new Random(5);
        long after20 = 0;
        for (int round = 0; round < 20; round++)
        {
            await Task.WhenAll(Enumerable.Range(0, 10).Select(async i =>
            {
                string body = Body(Questions[rng.Next(8)], rng.Next(2) == 0 ? "ctc" : "vanilla", 12 + rng.Next(12), stream: true);
                if (rng.Next(3) > 0)
                {
                    await StreamedText(await Post(server.Http, body));
                    return;
                }
                using var leave = new CancellationTokenSource(TimeSpan.FromMilliseconds(rng.Next(1, 40)));
                try { (await Post(server.Http, body, HttpCompletionOption.ResponseHeadersRead, leave.Token)).Dispose(); }
                catch (OperationCanceledException) { }
            }));
            if (round == 1) after20 = Managed();
        }
        for (int i = 0; i < 400 && server.Engine.Load() != (0, 0); i++) await Task.Delay(10);
        Assert.Equal((0, 0), server.Engine.Load());
        long after200 = Managed();
        Assert.True(after200 <= after20 * 1.1, $"managed memory grew from {after20:N0} bytes after 20 requests to {after200:N0} after 200");
    }

    static long Managed()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
