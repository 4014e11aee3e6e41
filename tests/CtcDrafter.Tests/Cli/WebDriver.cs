using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace CtcDrafter.Tests.Cli;

/// <summary>
/// Headless Chromium driven through chromedriver's W3C WebDriver HTTP API (Debian's chromium and chromium-driver
/// packages): a session on a free local port, closed with the driver on dispose.
/// </summary>
sealed class WebDriver : IAsyncDisposable
{
    public const string Browser = "/usr/bin/chromium", Driver = "/usr/bin/chromedriver";

    /// <summary>Why a browser test cannot run here, or null when it can.</summary>
    public static string? MissingReason =>
        File.Exists(Browser) && File.Exists(Driver) ? null
        : $"{Browser} or {Driver} is missing: apt-get install chromium chromium-driver (.ci/run does) to run the browser tests";

    const string ElementKey = "element-6066-11e4-a52e-4f735466cecf"; // the W3C name of an element reference
    readonly Process _driver;
    readonly HttpClient _http;
    string _session = "";

    WebDriver(Process driver, HttpClient http) => (_driver, _http) = (driver, http);

    public static async Task<WebDriver> Start()
    {
        int port = FreePort();
        var driver = Process.Start(new ProcessStartInfo(Driver, $"--port={port} --silent") { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var web = new WebDriver(driver, new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromMinutes(2) });
        try
        {
            await web.WaitReady();
            JsonNode session = (await web.Send(HttpMethod.Post, "session", new JsonObject
            {
                ["capabilities"] = new JsonObject
                {
                    ["alwaysMatch"] = new JsonObject
                    {
                        ["goog:chromeOptions"] = new JsonObject
                        {
                            ["binary"] = Browser,
                            ["args"] = new JsonArray("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,700"),
                        },
                    },
                },
            }))!;
            web._session = (string)session["sessionId"]!;
            return web;
        }
        catch
        {
            await web.DisposeAsync();
            throw;
        }
    }

    public Task Navigate(string url) => Send(HttpMethod.Post, "url", new JsonObject { ["url"] = url });

    /// <summary>The first element matching a CSS selector, as the WebDriver's element id.</summary>
    public async Task<string> Find(string css) =>
        (string)(await Send(HttpMethod.Post, "element", new JsonObject { ["using"] = "css selector", ["value"] = css }))![ElementKey]!;

    public Task Type(string element, string text) => Send(HttpMethod.Post, $"element/{element}/value", new JsonObject { ["text"] = text });

    public Task Click(string element) => Send(HttpMethod.Post, $"element/{element}/click", new JsonObject());

    /// <summary>Runs a script's body in the page; its return value.</summary>
    public Task<JsonNode?> Execute(string script) =>
        Send(HttpMethod.Post, "execute/sync", new JsonObject { ["script"] = script, ["args"] = new JsonArray() });

    /// <summary>The window as a PNG.</summary>
    public async Task<byte[]> Screenshot() => Convert.FromBase64String((string)(await Send(HttpMethod.Get, "screenshot", null))!);

    /// <summary>A WebDriver command: "session" creates one, "" is the session itself, anything else is under it.</summary>
    async Task<JsonNode?> Send(HttpMethod method, string command, JsonObject? body)
    {
        string path = command switch { "session" => command, "" => $"session/{_session}", _ => $"session/{_session}/{command}" };
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await _http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"WebDriver {method} {command}: {(int)response.StatusCode} {text}");
        return JsonNode.Parse(text)!["value"];
    }

    async Task WaitReady()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            try
            {
                JsonNode status = JsonNode.Parse(await _http.GetStringAsync("status"))!;
                if ((bool?)status["value"]?["ready"] == true) return;
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline) { }
            if (_driver.HasExited || DateTime.UtcNow > deadline)
                throw new InvalidOperationException($"{Driver} did not become ready: {(_driver.HasExited ? await _driver.StandardError.ReadToEndAsync() : "timeout")}");
            await Task.Delay(200);
        }
    }

    static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public async ValueTask DisposeAsync()
    {
        try { if (_session != "") await Send(HttpMethod.Delete, "", null); }
        catch (Exception e) when (e is HttpRequestException or InvalidOperationException or TaskCanceledException) { }
        _http.Dispose();
        if (!_driver.HasExited) _driver.Kill(entireProcessTree: true);
        await _driver.WaitForExitAsync();
        _driver.Dispose();
    }
}

/// <summary>A fact skipped, with the reason, when Chromium or chromedriver is absent.</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (WebDriver.MissingReason is { } reason) Skip = reason;
    }
}
