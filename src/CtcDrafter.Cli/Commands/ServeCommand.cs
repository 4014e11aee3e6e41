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
        method.Description = $"decoding method, or several comma-separated, the first the default, a request's \"method\" picks one: {string.Join(", ", DrafterFactory.Methods)}";
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
            string[] methods = r.GetValue(method)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (methods.Length == 0) throw new ArgumentException("--method is empty");
            DraftFolders drafts = DraftFolders.Parse(r.GetValue(draft));
            // One client, so one sequence (KV cache), per method.
            CtcChatClient[] clients = [.. methods.Select(name => DrafterFactory.Create(name, m, drafts.For(name, m.Folder)))
                .Select(d => new CtcChatClient(m, chat, d is NoDrafter ? null : d))];
            try
            {
                if (r.GetValue(maxRequest) <= 0) throw new ArgumentException("--max-request-bytes must be positive");
                using var app = OpenAiServer.Build(clients, r.GetValue(url)!, r.GetValue(maxRequest));
                app.Start();
                Console.Error.WriteLine($"serving {clients[0].ModelId} ({string.Join(", ", methods)}) on {string.Join(", ", app.Urls)}; " +
                    $"the chat page at {app.Urls.First()}/; Ctrl+C to stop");
                app.WaitForShutdown();
                return 0;
            }
            finally
            {
                foreach (CtcChatClient c in clients) c.Dispose();
            }
        });
        return cmd;
    }
}
