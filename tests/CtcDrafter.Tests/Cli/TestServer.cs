using CtcDrafter.Chat;
using CtcDrafter.Cli.Server;
using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Text;
using Microsoft.AspNetCore.Builder;

namespace CtcDrafter.Tests.Cli;

/// <summary>
/// The OpenAI-compatible server on ref-s serving its ctc draft (the default) and plain decoding on a free local
/// port, both methods through one batch generator as <c>serve</c> runs them.
/// </summary>
sealed class TestServer : IAsyncDisposable
{
    public LlamaModel Model { get; private init; } = null!;
    public BatchGenerator Engine { get; private init; } = null!;
    public CtcChatClient Ctc { get; private init; } = null!;
    CtcChatClient _vanilla = null!;
    WebApplication _app = null!;
    public HttpClient Http { get; private set; } = null!;

    /// <summary>The server's root address, with its slash.</summary>
    public string Url => _app.Urls.First() + "/";

    public static async Task<TestServer> Start(BatchOptions? options = null)
    {
        string folder = Path.Combine(TestData.RepoRoot, "models", "ref-s");
        var model = LlamaModel.Load(folder);
        var template = ChatTemplate.Get("vicuna_v1.1");
        var engine = new BatchGenerator(model, [DrafterFactory.Create("ctc", model, Path.Combine(folder, "draft-ctc")), new NoDrafter()], options);
        var s = new TestServer { Model = model, Engine = engine, Ctc = new CtcChatClient(engine, "ctc", template) };
        s._vanilla = new CtcChatClient(engine, "vanilla", template);
        s._app = OpenAiServer.Build([s.Ctc, s._vanilla], "http://127.0.0.1:0");
        await s._app.StartAsync();
        s.Http = new HttpClient { BaseAddress = new Uri(s._app.Urls.First()) };
        return s;
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Ctc.Dispose();
        _vanilla.Dispose();
        Engine.Dispose();
        Model.Dispose();
    }
}
