using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using CtcDrafter.Chat;
using CtcDrafter.Cli.Server;
using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Text;

namespace CtcDrafter.Tests.Cli;

/// <summary>
/// The chat page in headless Chromium against the server on ref-s with its ctc draft and plain decoding. With
/// CTCDRAFTER_SCREENSHOT=FILE.png the page is saved there once answered (docs/images/chat-page.png is one).
/// </summary>
public sealed class ChatPageTests
{
    const string Question = "What should I pack for a trip to the mountains?";

    [Fact]
    public async Task ThePageAndItsFilesAreServedWithoutExternalUrls()
    {
        await using var server = await Server.Start();
        foreach (var (path, type) in new[] { ("/", "text/html"), ("/page.js", "text/javascript"), ("/page.css", "text/css") })
        {
            HttpResponseMessage r = await server.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
            Assert.Equal(type, r.Content.Headers.ContentType!.MediaType);
            string body = await r.Content.ReadAsStringAsync();
            Assert.DoesNotContain("http://", body);
            Assert.DoesNotContain("https://", body);
            Assert.DoesNotContain("//cdn", body);
        }
    }

    [BrowserFact]
    public async Task APromptSentFromThePageStreamsTheBaseModelsAnswerColouredByDepth()
    {
        await using var server = await Server.Start();
        await using var browser = await WebDriver.Start();
        await browser.Navigate(server.Url);
        await browser.Type(await browser.Find("#prompt"), Question);
        await browser.Click(await browser.Find("#send"));

        JsonNode state = null!;
        for (var deadline = DateTime.UtcNow.AddMinutes(2); DateTime.UtcNow < deadline; await Task.Delay(250))
        {
            state = (await browser.Execute("""
                const answer = document.querySelector(".assistant");
                return { done: !!answer && answer.dataset.done === "true", text: answer ? answer.textContent : "",
                         spans: document.querySelectorAll(".assistant span.token").length,
                         drafted: document.querySelectorAll(".assistant span.token:not(.d0)").length,
                         tau: document.getElementById("tau").textContent, method: document.getElementById("method").value,
                         methods: [...document.querySelectorAll("#method option")].map(o => o.value) };
                """))!;
            if ((bool)state["done"]!) break;
        }
        Assert.True((bool)state["done"]!, $"the page did not finish answering: {state.ToJsonString()}");

        // The same greedy request through the API: the server's sequence already holds it, the answer is the same.
        var request = new JsonObject { ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = Question }), ["temperature"] = 0 };
        HttpResponseMessage api = await server.Http.PostAsync("/v1/chat/completions", new StringContent(request.ToJsonString(), Encoding.UTF8, "application/json"));
        string expected = (string)JsonNode.Parse(await api.Content.ReadAsStringAsync())!["choices"]![0]!["message"]!["content"]!;
        Assert.Equal(expected, (string?)state["text"]);
        Assert.True((int)state["spans"]! > 0);
        Assert.True((int)state["drafted"]! > 0, "no token shown as an accepted draft token");
        Assert.True(double.TryParse((string?)state["tau"], System.Globalization.CultureInfo.InvariantCulture, out double tau) && tau > 1, $"tau shown: {state["tau"]}");
        Assert.Equal("ctc", (string?)state["method"]);
        Assert.Equal(["ctc", "vanilla"], state["methods"]!.AsArray().Select(m => (string?)m));

        if (Environment.GetEnvironmentVariable("CTCDRAFTER_SCREENSHOT") is { Length: > 0 } file)
            await File.WriteAllBytesAsync(file, await browser.Screenshot());
    }

    /// <summary>The server on a free local port.</summary>
    sealed class Server : IAsyncDisposable
    {
        LlamaModel _model = null!;
        CtcChatClient _client = null!, _vanilla = null!;
        Microsoft.AspNetCore.Builder.WebApplication _app = null!;
        public HttpClient Http { get; private set; } = null!;
        public string Url => _app.Urls.First() + "/";

        public static async Task<Server> Start()
        {
            string folder = Path.Combine(TestData.RepoRoot, "models", "ref-s");
            var s = new Server { _model = LlamaModel.Load(folder) };
            s._client = new CtcChatClient(s._model, ChatTemplate.Get("vicuna_v1.1"), DrafterFactory.Create("ctc", s._model, Path.Combine(folder, "draft-ctc")));
            s._vanilla = new CtcChatClient(s._model, ChatTemplate.Get("vicuna_v1.1"));
            s._app = OpenAiServer.Build([s._client, s._vanilla], "http://127.0.0.1:0");
            await s._app.StartAsync();
            s.Http = new HttpClient { BaseAddress = new Uri(s._app.Urls.First()) };
            return s;
        }

        public async ValueTask DisposeAsync()
        {
            Http.Dispose();
            await _app.StopAsync();
            await _app.DisposeAsync();
            _client.Dispose();
            _vanilla.Dispose();
            _model.Dispose();
        }
    }
}
