using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;

namespace CtcDrafter.Cli.Commands;

/// <summary><c>ctcdrafter generate</c>: one completion, streamed, or as JSON.</summary>
static class GenerateCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var dtype = CommonOptions.Dtype();
        var threads = CommonOptions.Threads();
        var prompt = new Option<string?>("--prompt", "-p") { Description = "prompt text (default: start from BOS alone)" };
        var promptIds = new Option<string?>("--prompt-ids") { Description = "prompt as comma-separated token ids, used as given" };
        var template = new Option<string?>("--chat-template") { Description = $"wrap the prompt in a chat template: {string.Join(", ", ChatTemplate.Names)}, or auto (the model's own: tokenizer_config.json or the GGUF file)" };
        var system = new Option<string?>("--system") { Description = "system message for the chat template" };
        var sampling = new SamplingArgs();
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "most new tokens", DefaultValueFactory = _ => 256 };
        var stops = new Option<string[]>("--stop") { Description = "stop string (repeatable)", AllowMultipleArgumentsPerToken = false };
        var json = new Option<bool>("--json") { Description = "print one JSON object (text, tokens, stats) instead of streaming text" };
        var method = CommonOptions.Method();
        var draft = new Option<string?>("--draft") { Description = DraftFolders.Description };
        var tree = CommonOptions.Tree();
        var context = CommonOptions.Context();
        var logprobs = new Option<int?>("--logprobs")
        {
            Description = $"with --json: every token's log-probability and its N most likely alternatives (0..{GenerationRequest.MaxTopLogprobs})",
        };

        var cmd = new Command("generate", "Generate a completion for a prompt.")
        {
            model, dtype, threads, prompt, promptIds, template, system, maxTokens, stops, json, method, draft, tree, context, logprobs,
        };
        sampling.AddTo(cmd);
        cmd.SetAction(r =>
        {
            using LlamaModel m = CommonOptions.Load(r.GetValue(model)!, r.GetValue(dtype)!, r.GetValue(threads), r.GetValue(context));
            int[] ids = PromptTokens(m, r.GetValue(prompt), r.GetValue(promptIds), r.GetValue(template), r.GetValue(system));
            bool asJson = r.GetValue(json);
            if (r.GetValue(logprobs) is not null && !asJson) throw new ArgumentException("--logprobs goes with --json");
            var request = new GenerationRequest(ids, r.GetValue(maxTokens), sampling.Read(r, m.Defaults))
            {
                StopStrings = r.GetValue(stops) ?? [],
                Logprobs = r.GetValue(logprobs),
            };
            request.Validate();
            var generator = CommonOptions.Generator(m, r.GetValue(method)!, r.GetValue(draft), r.GetValue(tree));
            GenerationResult result = generator.Generate(request, asJson ? null : s => { Console.Write(s.Text); Console.Out.Flush(); });
            if (asJson) Console.WriteLine(ToJson(result, m.Tokenizer).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            else
            {
                Console.WriteLine();
                GenerationStats st = result.Stats;
                Console.Error.WriteLine($"[{st.Method}: {st.NewTokens} tokens in {st.DecodeMs:F0} ms = {st.TokensPerSecond:F1} tokens/s, " +
                    $"tau {st.Tau:F2}, prefill {st.PromptTokens} tokens in {st.PrefillMs:F0} ms; ended by {result.Finish}]");
            }
            return 0;
        });
        return cmd;
    }

    internal static int[] PromptTokens(LlamaModel m, string? text, string? ids, string? template, string? system)
    {
        if (ids is not null)
        {
            if (text is not null) throw new ArgumentException("give --prompt or --prompt-ids, not both");
            try { return ids.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray(); }
            catch (Exception e) when (e is FormatException or OverflowException)
            {
                throw new ArgumentException($"--prompt-ids '{ids}' is not a comma-separated list of token ids (integers up to {int.MaxValue})");
            }
        }
        TextTokenizer tok = m.Tokenizer ?? throw new ModelFormatException(m.Folder, "no tokenizer.model or tokenizer.json: use --prompt-ids");
        if (text is null && template is null) return [m.Config.BosTokenId];
        ChatTemplate? chat = template switch
        {
            null => null,
            "auto" => ChatTemplate.Recognize(m.ChatTemplateText) ?? throw new ArgumentException(m.ChatTemplateText is null
                ? $"{m.Folder}: the model has no chat template; name one with --chat-template ({string.Join(", ", ChatTemplate.Names)})"
                : $"{m.Folder}: its chat template ({Excerpt(m.ChatTemplateText)}) is none of the built-in ones; name one with --chat-template ({string.Join(", ", ChatTemplate.Names)})"),
            _ => ChatTemplate.Get(template),
        };
        if (chat is null) return [.. tok.Encode(text ?? "", addBos: true)];
        var messages = new List<ChatMessage>();
        if (system is not null) messages.Add(new ChatMessage("system", system));
        messages.Add(new ChatMessage("user", text ?? ""));
        return [.. chat.Encode(tok, messages, addGenerationPrompt: true)];
    }

    static string Excerpt(string jinja)
    {
        string flat = string.Join(' ', jinja.Split((char[])['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries)).Trim();
        return flat.Length <= 60 ? $"\"{flat}\"" : $"\"{flat[..60]}...\"";
    }

    internal static JsonObject ToJson(GenerationResult r, TextTokenizer? tokenizer)
    {
        JsonObject json = Stats(r);
        if (r.Logprobs is { } items)
            json["logprobs"] = new JsonObject { ["content"] = new JsonArray(items.Select(i => (JsonNode)Logprob(i, tokenizer)).ToArray()) };
        return json;
    }

    /// <summary>OpenAI's shape: <c>{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}</c>.</summary>
    internal static JsonObject Logprob(TokenLogprob item, TextTokenizer? tokenizer)
    {
        JsonObject One(int token, float logprob)
        {
            byte[] bytes = tokenizer?.TokenBytes(token) ?? [];
            return new JsonObject
            {
                ["token"] = tokenizer is null ? token.ToString() : System.Text.Encoding.UTF8.GetString(bytes),
                ["logprob"] = logprob,
                ["bytes"] = new JsonArray(bytes.Select(b => (JsonNode)(int)b).ToArray()),
            };
        }
        JsonObject o = One(item.Token, item.Logprob);
        o["top_logprobs"] = new JsonArray(item.Top.Select(t => (JsonNode)One(t.Token, t.Logprob)).ToArray());
        return o;
    }

    static JsonObject Stats(GenerationResult r) => new()
    {
        ["text"] = r.Text,
        ["tokens"] = new JsonArray(r.Tokens.Select(t => (JsonNode)t).ToArray()),
        ["finishReason"] = r.Finish.ToString(),
        ["stats"] = new JsonObject
        {
            ["method"] = r.Stats.Method,
            ["promptTokens"] = r.Stats.PromptTokens,
            ["prefillTokens"] = r.Stats.PrefillTokens,
            ["newTokens"] = r.Stats.NewTokens,
            ["steps"] = r.Stats.Steps,
            ["tau"] = Math.Round(r.Stats.Tau, 4),
            ["acceptedPerDepth"] = new JsonArray(r.Stats.AcceptedPerDepth.Select(a => (JsonNode)a).ToArray()),
            ["tokensPerSecond"] = Math.Round(r.Stats.TokensPerSecond, 2),
            ["prefillMs"] = Math.Round(r.Stats.PrefillMs, 3),
            ["decodeMs"] = Math.Round(r.Stats.DecodeMs, 3),
            ["draftMs"] = Math.Round(r.Stats.DraftMs, 3),
            ["verifyMs"] = Math.Round(r.Stats.VerifyMs, 3),
        },
    };
}

/// <summary>--temperature, --top-k, --top-p, --seed, with the model's generation_config.json as defaults.</summary>
sealed class SamplingArgs
{
    readonly Option<float?> _temperature = new("--temperature", "-t") { Description = "0 = greedy (default: generation_config.json, else 0)" };
    readonly Option<int?> _topK = new("--top-k") { Description = "keep the k most likely tokens (0 = all)" };
    readonly Option<float?> _topP = new("--top-p") { Description = "nucleus sampling mass (1 = all)" };
    readonly Option<ulong> _seed = new("--seed") { Description = "random seed; the same seed gives the same text", DefaultValueFactory = _ => 0 };

    public void AddTo(Command c)
    {
        c.Options.Add(_temperature);
        c.Options.Add(_topK);
        c.Options.Add(_topP);
        c.Options.Add(_seed);
    }

    public SamplingOptions Read(ParseResult r, GenerationDefaults d)
    {
        var o = new SamplingOptions(r.GetValue(_temperature) ?? d.Temperature, r.GetValue(_topK) ?? d.TopK,
            r.GetValue(_topP) ?? d.TopP, r.GetValue(_seed));
        o.Validate();
        return o;
    }
}
