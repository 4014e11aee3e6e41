using System.Text;
using CtcDrafter.Chat;
using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;
using Microsoft.Extensions.AI;
using AiMessage = Microsoft.Extensions.AI.ChatMessage;

namespace CtcDrafter.Tests.Chat;

/// <summary>The IChatClient surface on the committed ref-s model and its ctc draft.</summary>
public class CtcChatClientTests
{
    static string Folder(params string[] parts) => Path.Combine([TestData.RepoRoot, "models", "ref-s", .. parts]);
    const string Question = "What should I pack for a trip to the mountains?";

    [Fact]
    public async Task AnswersWithTheBaseModelsGreedyTextWithAndWithoutADrafter()
    {
        using var m = LlamaModel.Load(Folder());
        string prompt = ChatTemplate.Get("vicuna_v1.1").Render([new("user", Question)], addGenerationPrompt: true);
        var expected = new Generator(m).Generate(new GenerationRequest(m.Tokenizer!.Encode(prompt, addBos: true, parseSpecial: true), 48, SamplingOptions.Greedy));

        var options = new ChatOptions { MaxOutputTokens = 48, Temperature = 0 };
        using var plain = new CtcChatClient(m, ChatTemplate.Get("vicuna_v1.1"));
        ChatResponse a = await plain.GetResponseAsync([new AiMessage(ChatRole.User, Question)], options);
        using var ctc = new CtcChatClient(m, ChatTemplate.Get("vicuna_v1.1"), DrafterFactory.Create("ctc", m, Folder("draft-ctc")));
        ChatResponse b = await ctc.GetResponseAsync([new AiMessage(ChatRole.User, Question)], options);

        Assert.Equal(expected.Text, a.Text);
        Assert.Equal(expected.Text, b.Text);
        Assert.Equal("ctc", b.AdditionalProperties!["method"]);
        Assert.Equal(expected.Tokens.Count, a.Usage!.OutputTokenCount);
        Assert.Equal(expected.Finish == FinishReason.MaxTokens ? ChatFinishReason.Length : ChatFinishReason.Stop, a.FinishReason);
        Assert.Equal("ref-s", a.ModelId);
    }

    [Fact]
    public async Task StreamingGivesTheSameTextThenTheFinishAndUsage()
    {
        using var m = LlamaModel.Load(Folder());
        using var client = new CtcChatClient(m, ChatTemplate.Get("vicuna_v1.1"), new PromptLookupDrafter());
        var options = new ChatOptions { MaxOutputTokens = 40, Temperature = 0 };
        AiMessage[] messages = [new(ChatRole.System, "You are a helpful assistant."), new(ChatRole.User, Question)];
        string whole = (await client.GetResponseAsync(messages, options)).Text;

        var text = new StringBuilder();
        var updates = new List<ChatResponseUpdate>();
        await foreach (ChatResponseUpdate u in client.GetStreamingResponseAsync(messages, options))
        {
            updates.Add(u);
            text.Append(u.Text);
        }
        Assert.Equal(whole, text.ToString());
        Assert.True(updates.Count > 3);
        Assert.NotNull(updates[^1].FinishReason);
        Assert.Equal(40, updates[^1].Contents.OfType<UsageContent>().Single().Details.OutputTokenCount);
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
    }

    [Fact]
    public async Task AStreamLeftEarlyEndsItsGenerationBeforeTheNextCall()
    {
        using var m = LlamaModel.Load(Folder());
        using var client = new CtcChatClient(m);
        var options = new ChatOptions { MaxOutputTokens = 200, Temperature = 0.7f, Seed = 3 };
        await foreach (var _ in client.GetStreamingResponseAsync([new AiMessage(ChatRole.User, Question)], options)) break;
        ChatResponse r = await client.GetResponseAsync([new AiMessage(ChatRole.User, Question)], new ChatOptions { MaxOutputTokens = 5 });
        Assert.Equal(5, r.Usage!.OutputTokenCount);
        Assert.Equal(ChatFinishReason.Length, r.FinishReason);
    }

    [Fact]
    public async Task BadMessagesAndOptionsAreRefused()
    {
        using var m = LlamaModel.Load(Folder());
        using var client = new CtcChatClient(m);
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([new AiMessage(ChatRole.Tool, "x")]));
        await Assert.ThrowsAsync<ArgumentException>(() => client.GetResponseAsync([]));
        var e = await Assert.ThrowsAsync<RequestFieldException>(() => client.GetResponseAsync([new AiMessage(ChatRole.User, "x")], new ChatOptions { TopP = 2 }));
        Assert.Equal("top_p", e.Field);
        e = await Assert.ThrowsAsync<RequestFieldException>(() => client.GetResponseAsync([new AiMessage(ChatRole.User, "x")], new ChatOptions { StopSequences = [""] }));
        Assert.Equal("stop", e.Field);
        Assert.Equal("ref-s", client.GetService<ChatClientMetadata>()!.DefaultModelId);
    }

    [Fact]
    public async Task CancellingAStreamStopsItAndTheClientGoesOn()
    {
        using var m = LlamaModel.Load(Folder());
        using var client = new CtcChatClient(m);
        using var cts = new CancellationTokenSource();
        var options = new ChatOptions { MaxOutputTokens = 200, Temperature = 0 };
        int received = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync([new AiMessage(ChatRole.User, Question)], options, cts.Token))
                if (++received == 2) cts.Cancel();
        });
        Assert.Equal(2, received);
        ChatResponse r = await client.GetResponseAsync([new AiMessage(ChatRole.User, Question)], new ChatOptions { MaxOutputTokens = 3 });
        Assert.Equal(3, r.Usage!.OutputTokenCount);
    }
}
