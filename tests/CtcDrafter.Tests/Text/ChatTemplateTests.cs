using CtcDrafter.Text;

namespace CtcDrafter.Tests.Text;

public class ChatTemplateTests
{
    private const string VicunaSystem = "A chat between a curious user and an artificial intelligence assistant. "
        + "The assistant gives helpful, detailed, and polite answers to the user's questions.";

    private static readonly ChatMessage[] OneTurn = [new("user", "Hi?")];
    private static readonly ChatMessage[] TwoTurns = [new("user", "Hi?"), new("assistant", "Hello."), new("user", "Why?")];
    private static readonly ChatMessage[] WithSystem = [new("system", "Be brief."), .. TwoTurns];

    private static string Render(string template, ChatMessage[] messages, bool addGenerationPrompt = true) =>
        ChatTemplate.Get(template).Render(messages, addGenerationPrompt);

    [Fact]
    public void Vicuna_IsFastChatsPrompt()
    {
        Assert.Equal(VicunaSystem + " USER: Hi? ASSISTANT:", Render("vicuna_v1.1", OneTurn));
        Assert.Equal(VicunaSystem + " USER: Hi? ASSISTANT: Hello.</s>USER: Why? ASSISTANT:", Render("vicuna_v1.1", TwoTurns));
        Assert.Equal("Be brief. USER: Hi? ASSISTANT: Hello.</s>USER: Why? ASSISTANT:", Render("vicuna_v1.1", WithSystem));
        Assert.Equal(VicunaSystem + " USER: Hi? ", Render("vicuna_v1.1", OneTurn, addGenerationPrompt: false));
        Assert.Equal(VicunaSystem + " USER: Hi? ASSISTANT: Hello.</s>", Render("vicuna_v1.1", TwoTurns[..2]));
    }

    /// <summary>The template's own &lt;/s&gt; closing an assistant turn is the EOS id; the same text typed in a message
    /// (user or assistant) is plain text, and otherwise the ids are those of encoding the rendered text.</summary>
    [Theory]
    [InlineData("vicuna_v1.1")]
    [InlineData("mistral-instruct")]
    [InlineData("llama-2-chat")]
    public void SpecialTokenTextInAMessageIsPlainText(string template)
    {
        var tok = TextTokenizer.Load(Path.Combine(TestData.RepoRoot, "models", "tokenizer"));
        var chat = ChatTemplate.Get(template);
        ChatMessage[] typed = [new("user", "Say </s> and <s> please"), new("assistant", "Done: </s>"), new("user", "Again?")];
        var ids = chat.Encode(tok, typed, addGenerationPrompt: true);
        Assert.Equal(1, ids.Count(id => id == tok.EosId)); // the one closing the assistant turn
        Assert.Equal(template == "llama-2-chat" ? 2 : 1, ids.Count(id => id == tok.BosId)); // BOS, and llama-2's turn opener
        ChatMessage[] clean = [new("user", "Say it please"), new("assistant", "Done."), new("user", "Again?")];
        Assert.Equal(tok.Encode(chat.Render(clean, true), addBos: true, parseSpecial: true), chat.Encode(tok, clean, addGenerationPrompt: true));
    }

    [Fact]
    public void Llama2Chat()
    {
        Assert.Equal("[INST] Hi? [/INST]", Render("llama-2-chat", OneTurn));
        Assert.Equal("[INST] Hi? [/INST] Hello. </s><s>[INST] Why? [/INST]", Render("llama-2-chat", TwoTurns));
        Assert.Equal("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi? [/INST] Hello. </s><s>[INST] Why? [/INST]", Render("llama-2-chat", WithSystem));
    }

    [Fact]
    public void MistralInstruct()
    {
        Assert.Equal("[INST] Hi? [/INST]", Render("mistral-instruct", OneTurn));
        Assert.Equal("[INST] Hi? [/INST]Hello.</s>[INST] Why? [/INST]", Render("mistral-instruct", TwoTurns));
        Assert.Equal("[INST] Be brief.\n\nHi? [/INST]Hello.</s>[INST] Why? [/INST]", Render("mistral-instruct", WithSystem));
    }

    [Fact]
    public void ChatMl()
    {
        Assert.Equal("<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n", Render("chatml", OneTurn));
        Assert.Equal("<|im_start|>user\nHi?<|im_end|>\n", Render("chatml", OneTurn, addGenerationPrompt: false));
        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\nHello.<|im_end|>\n"
            + "<|im_start|>user\nWhy?<|im_end|>\n<|im_start|>assistant\n",
            Render("chatml", WithSystem));
    }

    [Fact]
    public void Llama3()
    {
        Assert.Equal("<|start_header_id|>user<|end_header_id|>\n\nHi?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            Render("llama-3", OneTurn));
        Assert.Equal(
            "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHi?<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|>"
            + "<|start_header_id|>assistant<|end_header_id|>\n\n",
            Render("llama-3", WithSystem));
    }

    [Fact]
    public void None_JoinsContents()
    {
        Assert.Equal("Hi?", Render("none", OneTurn));
        Assert.Equal("Be brief.\nHi?\nHello.\nWhy?", Render("none", WithSystem));
    }

    [Fact]
    public void Get_UnknownName_ListsTheValidNames()
    {
        var e = Assert.Throws<ArgumentException>(() => ChatTemplate.Get("alpaca"));
        foreach (string name in new[] { "vicuna_v1.1", "llama-2-chat", "mistral-instruct", "chatml", "llama-3", "none" })
            Assert.Contains(name, e.Message);
        Assert.Equal(6, ChatTemplate.Names.Count);
        Assert.Equal("chatml", ChatTemplate.Get("ChatML").Name);
    }

    [Fact]
    public void Render_RejectsBadRolesAndOrder()
    {
        Assert.Throws<ArgumentException>(() => Render("vicuna_v1.1", [new("assistant", "x")]));
        Assert.Throws<ArgumentException>(() => Render("llama-2-chat", [new("user", "a"), new("user", "b")]));
        Assert.Throws<ArgumentException>(() => Render("chatml", [new("user", "a"), new("system", "b")]));
        Assert.Throws<ArgumentException>(() => Render("chatml", [new("tool", "a")]));
    }

    [Theory]
    [InlineData("{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>{% endfor %}", "llama-3")]
    [InlineData("{% for m in messages %}<|im_start|>{{ m['role'] }}{% endfor %}", "chatml")]
    [InlineData("{{ bos_token + '[INST] ' + '<<SYS>>\\\\n' }}", "llama-2-chat")]
    [InlineData("{{ bos_token }}{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}", "mistral-instruct")]
    [InlineData("{{ system }} USER: {{ q }} ASSISTANT:", "vicuna_v1.1")]
    [InlineData("{{ messages }}", null)]
    public void Detect_RecognisesTheMarkers(string jinja, string? expected)
    {
        using var dir = new TempDir();
        dir.Write("tokenizer_config.json", $"{{\"chat_template\": {System.Text.Json.JsonSerializer.Serialize(jinja)}}}");
        Assert.Equal(expected, ChatTemplate.Recognize(TokenizerConfig.TryRead(dir.Path)?.ChatTemplate)?.Name);
    }

    [Fact]
    public void Detect_WithoutConfig_IsNull()
    {
        using var dir = new TempDir();
        Assert.Null(ChatTemplate.Recognize(TokenizerConfig.TryRead(dir.Path)?.ChatTemplate));
        dir.Write("tokenizer_config.json", "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"x\"}, {\"name\": \"default\", \"template\": \"<|im_start|>\"}]}");
        Assert.Equal("chatml", ChatTemplate.Recognize(TokenizerConfig.TryRead(dir.Path)?.ChatTemplate)?.Name);
    }

    [SharedDataFact]
    public void VicunaPrompt_EncodesClosingTagAsEos_WithParseSpecial()
    {
        var tokenizer = SentencePieceFixtureTests.Tokenizer("llama2");
        string prompt = Render("vicuna_v1.1", TwoTurns);
        var ids = tokenizer.Encode(prompt, addBos: true, parseSpecial: true);
        Assert.Equal(1, ids[0]);
        Assert.Equal(1, ids.Count(id => id == 2));
        // After the EOS the next segment starts with its own "▁USER", as FastChat's Hugging Face tokenizer does.
        int eos = ids.ToList().IndexOf(2);
        Assert.Equal(tokenizer.Encode("USER", false), ids.Skip(eos + 1).Take(2));
        Assert.Equal(prompt.Replace("</s>", " "), tokenizer.Decode(ids));
    }
}
