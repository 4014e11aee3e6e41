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
        Assert.Equal("ctc", ((GenerationStats)b.AdditionalProperties![CtcChatClient.StatsKey]!).Method);
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
        Assert.StartsWith("chatcmpl-", updates[0].ResponseId);
        Assert.All(updates, u => Assert.Equal(updates[0].ResponseId, u.MessageId));
        Assert.Single(updates.Select(u => u.CreatedAt).Distinct());
        Assert.NotNull(updates[0].CreatedAt);
    }

    [Fact]
    public async Task AResponseHasItsIdMessageIdAndCreationTime()
    {
        using var m = LlamaModel.Load(Folder());
        using var client = new CtcChatClient(m);
        DateTimeOffset before = DateTimeOffset.UtcNow;
        ChatResponse a = await client.GetResponseAsync(Question, new ChatOptions { MaxOutputTokens = 3 });
        ChatResponse b = await client.GetResponseAsync(Question, new ChatOptions { MaxOutputTokens = 3 });
        Assert.StartsWith("chatcmpl-", a.ResponseId);
        Assert.Equal(a.ResponseId, a.Messages.Single().MessageId);
        Assert.NotEqual(a.ResponseId, b.ResponseId);
        Assert.InRange(a.CreatedAt!.Value, before, DateTimeOffset.UtcNow);
    }

    [Fact]
    public async Task ToolsAndOtherUnsupportedOptionsThrowNotSupported()
    {
        using var m = LlamaModel.Load(Folder());
        using var client = new CtcChatClient(m);
        AiMessage[] messages = [new(ChatRole.User, "x")];
        async Task Refused(ChatOptions options, string option)
        {
            var e = await Assert.ThrowsAsync<NotSupportedException>(() => client.GetResponseAsync(messages, options));
            Assert.Contains(option, e.Message);
            Assert.Throws<NotSupportedException>(() => client.GetStreamingResponseAsync(messages, options));
        }
        await Refused(new ChatOptions { Tools = [AIFunctionFactory.Create(() => 42, "answer")] }, "Tools");
        await Refused(new ChatOptions { ToolMode = ChatToolMode.RequireAny }, "ToolMode");
        await Refused(new ChatOptions { ResponseFormat = ChatResponseFormat.Json }, "ResponseFormat");
        await Refused(new ChatOptions { PresencePenalty = 0.5f }, "PresencePenalty");
        await Refused(new ChatOptions { ConversationId = "c1" }, "ConversationId");
        // What asks for nothing is accepted; instructions become the first system message.
        ChatResponse r = await client.GetResponseAsync(messages, new ChatOptions { Tools = [], ToolMode = ChatToolMode.Auto, ResponseFormat = ChatResponseFormat.Text, FrequencyPenalty = 0, MaxOutputTokens = 2 });
        Assert.Equal(2, r.Usage!.OutputTokenCount);
        var greedy = new ChatOptions { MaxOutputTokens = 6, Temperature = 0 };
        ChatResponse plain = await client.GetResponseAsync(messages, greedy);
        ChatResponse system = await client.GetResponseAsync([new(ChatRole.System, "Answer in French."), .. messages], greedy);
        greedy.Instructions = "Answer in French.";
        ChatResponse instructed = await client.GetResponseAsync(messages, greedy);
        Assert.NotEqual(plain.Usage!.InputTokenCount, instructed.Usage!.InputTokenCount);
        Assert.Equal(system.Usage!.InputTokenCount, instructed.Usage!.InputTokenCount);
        Assert.Equal(system.Text, instructed.Text);
    }

    [Fact]
    public async Task ConstructingWithADrafterDoesNotMeasureTheModel()
    {
        using var m = LlamaModel.Load(Folder());
        using var client = new CtcChatClient(m, drafter: DrafterFactory.Create("ctc", m, Folder("draft-ctc")));
        Assert.False(m.VerifyCostMeasured);
        await client.GetResponseAsync(Question, new ChatOptions { MaxOutputTokens = 2 });
        Assert.True(m.VerifyCostMeasured);
    }

    [Fact]
    public async Task DisposingDuringAGenerationStopsItAndLaterCallsAreRefused()
    {
        var m = LlamaModel.Load(Folder());
        var client = new CtcChatClient(m);
        var options = new ChatOptions { MaxOutputTokens = 900, Temperature = 0 };
        // A second call waiting for its turn behind the stream.
        Task<ChatResponse>? waiting = null;
        int received = 0;
        await Assert.ThrowsAsync<ObjectDisposedException>(async () =>
        {
            await foreach (var _ in client.GetStreamingResponseAsync([new AiMessage(ChatRole.User, Question)], options))
                if (++received == 1)
                {
                    waiting = client.GetResponseAsync(Question, options);
                    client.Dispose(); // returns once the generation no longer reads the model
                    m.Dispose();
                }
        });
        Assert.True(received < 900);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting!);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetResponseAsync(Question));
        client.Dispose(); // twice is harmless
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
