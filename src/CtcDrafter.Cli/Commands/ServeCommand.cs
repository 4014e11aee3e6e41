using System.CommandLine;
using CtcDrafter.Chat;
using CtcDrafter.Cli.Server;
using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Text;
using Microsoft.Extensions.Hosting;

namespace CtcDrafter.Cli.Commands;

/// <summary><c>ctcdrafter serve</c>: an OpenAI-compatible chat completions server.</summary>
static class ServeCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var dtype = CommonOptions.Dtype();
        var threads = CommonOptions.Threads();
        var template = CommonOptions.ChatTemplateName();
        var method = CommonOptions.Method();
        var draft = new Option<string?>("--draft") { Description = DraftFolders.Description };
        var context = CommonOptions.Context();
        var maxRequest = new Option<long>("--max-request-bytes")
        {
            Description = "largest request body accepted (413 beyond it)", DefaultValueFactory = _ => Server.OpenAiServer.DefaultMaxRequestBytes,
        };
        var url = new Option<string>("--url") { Description = "address to listen on", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var cmd = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/models).")
        {
            model, dtype, threads, template, method, draft, context, maxRequest, url,
        };
        cmd.SetAction(r =>
        {
            using LlamaModel m = CommonOptions.Load(r.GetValue(model)!, r.GetValue(dtype)!, r.GetValue(threads), r.GetValue(context));
            string name = r.GetValue(template)!;
            ChatTemplate? chat = name == "auto" ? null : ChatTemplate.Get(name);
            string methodName = r.GetValue(method)!;
            IDrafter drafter = DrafterFactory.Create(methodName, m, DraftFolders.Parse(r.GetValue(draft)).For(methodName, m.Folder));
            using var client = new CtcChatClient(m, chat, drafter is NoDrafter ? null : drafter);
            if (r.GetValue(maxRequest) <= 0) throw new ArgumentException("--max-request-bytes must be positive");
            using var app = OpenAiServer.Build(client, r.GetValue(url)!, r.GetValue(maxRequest));
            app.Start();
            Console.Error.WriteLine($"serving {client.ModelId} ({methodName}) on {string.Join(", ", app.Urls)}; Ctrl+C to stop");
            app.WaitForShutdown();
            return 0;
        });
        return cmd;
    }
}
