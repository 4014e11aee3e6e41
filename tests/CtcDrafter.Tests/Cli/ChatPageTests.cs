using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace CtcDrafter.Tests.Cli;

/// <summary>
/// The chat page in headless Chromium against the server on ref-s with its ctc draft and plain decoding. With
/// CTCDRAFTER_SCREENSHOT=FILE.png the page is saved there once answered (docs/images/chat-page.png is one).
/// </summary>
public sealed class ChatPageTests
{
    const string Question = "Tell me a story about a little dog.";

    [Fact]
    public async Task ThePageAndItsFilesAreServedWithoutExternalUrls()
    {
        await using var server = await TestServer.Start();
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
        await using var server = await TestServer.Start();
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
}
