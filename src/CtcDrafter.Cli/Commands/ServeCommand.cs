using System.CommandLine;
using CtcDrafter.Chat;
using CtcDrafter.Cli.Server;
using CtcDrafter.Drafters;
using CtcDrafter.Generation;
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
        var parallel = new Option<int>("--parallel") { Description = "requests decoded together (slots), each with its own KV cache", DefaultValueFactory = _ => 4 };
        var queue = new Option<int>("--queue") { Description = "requests that may wait for a slot (429 with Retry-After beyond them)", DefaultValueFactory = _ => 64 };
        var timeout = new Option<double>("--timeout")
        {
            Description = "seconds a request may wait for a slot (longer: 503, or an error event when streaming), then generate in it (longer: ends with finish_reason \"length\"); 0 for no limit",
            DefaultValueFactory = _ => 600,
        };
        var maxNodes = new Option<int>("--max-tree-nodes") { Description = "most tree nodes a request verifies per step (adaptive below it)", DefaultValueFactory = _ => 32 };
        var cmd = new Command("serve", "Serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models) and a chat page.")
        {
            model, dtype, threads, template, method, draft, context, maxRequest, url, parallel, queue, timeout, maxNodes,
        };
        cmd.SetAction(r =>
        {
            using LlamaModel m = CommonOptions.Load(r.GetValue(model)!, r.GetValue(dtype)!, r.GetValue(threads), r.GetValue(context));
            string name = r.GetValue(template)!;
            ChatTemplate? chat = name == "auto" ? null : ChatTemplate.Get(name);
            string[] methods = r.GetValue(method)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (methods.Length == 0) throw new ArgumentException("--method is empty");
            DraftFolders drafts = DraftFolders.Parse(r.GetValue(draft));
            if (r.GetValue(maxRequest) <= 0) throw new ArgumentException("--max-request-bytes must be positive");
            if (r.GetValue(parallel) < 1) throw new ArgumentException($"--parallel {r.GetValue(parallel)}: at least one slot");
            if (r.GetValue(queue) < 0) throw new ArgumentException($"--queue {r.GetValue(queue)}: cannot be negative");
            if (r.GetValue(timeout) is < 0 or double.NaN) throw new ArgumentException($"--timeout {r.GetValue(timeout)}: seconds, 0 for no limit");
            if (r.GetValue(maxNodes) < 1) throw new ArgumentException($"--max-tree-nodes {r.GetValue(maxNodes)}: at least 1");
            // One generator decodes every request, whatever its method, in its slots; one client per method over it.
            IDrafter[] drafters = [.. methods.Select(name => DrafterFactory.Create(name, m, drafts.For(name, m.Folder)))];
            using var engine = new BatchGenerator(m, drafters, new BatchOptions
            {
                Parallel = r.GetValue(parallel),
                Queue = r.GetValue(queue),
                MaxTreeNodes = r.GetValue(maxNodes),
                Timeout = r.GetValue(timeout) > 0 ? TimeSpan.FromSeconds(r.GetValue(timeout)) : null,
            });
            CtcChatClient[] clients = [.. drafters.Select(d => new CtcChatClient(engine, d.Name, chat))];
            try
            {
                using var app = OpenAiServer.Build(clients, r.GetValue(url)!, r.GetValue(maxRequest));
                app.Start();
                Console.Error.WriteLine($"serving {clients[0].ModelId} ({string.Join(", ", methods)}; {r.GetValue(parallel)} slots) on {string.Join(", ", app.Urls)}; " +
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
