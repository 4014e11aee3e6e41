using System.CommandLine;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Text;

namespace CtcDrafter.Cli.Commands;

/// <summary><c>ctcdrafter chat</c>: a multi-turn conversation on standard input and output.</summary>
static class ChatCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var dtype = CommonOptions.Dtype();
        var threads = CommonOptions.Threads();
        var template = CommonOptions.ChatTemplateName();
        var system = new Option<string?>("--system") { Description = "system message" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "most new tokens per reply", DefaultValueFactory = _ => 512 };
        var sampling = new SamplingArgs();
        var method = CommonOptions.Method();
        var draft = new Option<string?>("--draft") { Description = DraftFolders.Description };
        var tree = CommonOptions.Tree();
        var context = CommonOptions.Context();
        var cmd = new Command("chat", "Chat with a model (type /reset to start over, /exit or end of input to quit).")
        {
            model, dtype, threads, template, system, maxTokens, method, draft, tree, context,
        };
        sampling.AddTo(cmd);
        cmd.SetAction(r =>
        {
            using LlamaModel m = CommonOptions.Load(r.GetValue(model)!, r.GetValue(dtype)!, r.GetValue(threads), r.GetValue(context));
            TextTokenizer tok = m.Tokenizer ?? throw new ModelFormatException(m.Folder, "no tokenizer.model or tokenizer.json");
            string name = r.GetValue(template)!;
            ChatTemplate chat = name == "auto" ? ChatTemplate.Recognize(m.ChatTemplateText) ?? ChatTemplate.Get("vicuna_v1.1") : ChatTemplate.Get(name);
            // One generator for the whole conversation: each turn prefills only what the previous turns did not.
            var generator = CommonOptions.Generator(m, r.GetValue(method)!, r.GetValue(draft), r.GetValue(tree));
            var sampleOptions = sampling.Read(r, m.Defaults);
            var messages = new List<ChatMessage>();
            if (r.GetValue(system) is string s) messages.Add(new ChatMessage("system", s));
            int turn = 0;
            while (true)
            {
                Console.Write("> ");
                string? line = Console.ReadLine();
                if (line is null || line.Trim() == "/exit") return 0;
                if (line.Trim() == "/reset") { messages.RemoveAll(x => x.Role != "system"); continue; }
                messages.Add(new ChatMessage("user", line));
                int[] ids = [.. chat.Encode(tok, messages, addGenerationPrompt: true)];
                if (ids.Length >= m.ContextLength)
                {
                    Console.Error.WriteLine($"error: the conversation has {ids.Length} tokens, the context holds {m.ContextLength}; /reset to start over");
                    messages.RemoveAt(messages.Count - 1);
                    continue;
                }
                var request = new GenerationRequest(ids, r.GetValue(maxTokens), sampleOptions with { Seed = sampleOptions.Seed + (ulong)turn++ });
                GenerationResult result = generator.Generate(request, t => { Console.Write(t.Text); Console.Out.Flush(); });
                Console.WriteLine();
                GenerationStats st = result.Stats;
                Console.Error.WriteLine($"[{st.Method}: {st.NewTokens} tokens, {st.TokensPerSecond:F1} tokens/s, tau {st.Tau:F2}; " +
                    $"prefill ran {st.PrefillTokens} of {st.PromptTokens} prompt tokens in {st.PrefillMs:F0} ms]");
                messages.Add(new ChatMessage("assistant", result.Text.Trim()));
            }
        });
        return cmd;
    }
}
