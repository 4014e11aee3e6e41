using System.Runtime.CompilerServices;
using System.Threading.Channels;
using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;
using Microsoft.Extensions.AI;
using AiMessage = Microsoft.Extensions.AI.ChatMessage;
using TemplateMessage = CtcDrafter.Text.ChatMessage;

namespace CtcDrafter.Chat;

/// <summary>
/// A loaded model (and optionally a drafter) as a Microsoft.Extensions.AI <see cref="IChatClient"/>: messages are
/// rendered with the model's chat template, generated with speculative decoding when a drafter is given (the text
/// is the base model's own either way), and streamed as tokens are committed. One generation runs at a time;
/// concurrent calls wait their turn. The client does not own the model or the drafter.
/// </summary>
public sealed class CtcChatClient : IChatClient
{
    readonly LlamaModel _model;
    readonly ChatTemplate _template;
    readonly Generator _generator;
    readonly SemaphoreSlim _turn = new(1, 1);
    readonly ChatClientMetadata _metadata;

    /// <param name="template">The chat template; by default the one the model folder declares, else vicuna_v1.1.</param>
    /// <param name="drafter">A drafter for speculative decoding; null decodes plainly.</param>
    /// <param name="maxTreeNodes">Most tree nodes verified per step (the budget adapts below it).</param>
    public CtcChatClient(LlamaModel model, ChatTemplate? template = null, IDrafter? drafter = null, int maxTreeNodes = 32)
    {
        _model = model;
        if (model.Tokenizer is null) throw new ArgumentException($"{model.Folder} has no tokenizer: a chat client needs one", nameof(model));
        _template = template ?? ChatTemplate.Recognize(model.ChatTemplateText) ?? ChatTemplate.Get("vicuna_v1.1");
        _generator = new Generator(model, drafter, maxTreeNodes, adaptive: drafter is not null);
        ModelId = Path.GetFileName(Path.TrimEndingDirectorySeparator(model.Folder));
        _metadata = new ChatClientMetadata("ctcdrafter", null, ModelId);
    }

    /// <summary>
    /// <see cref="ChatOptions.AdditionalProperties"/> key asking for log-probabilities with that many alternatives
    /// per token (an int, 0..20); the response's (or the last update's) additional properties then hold the
    /// <see cref="TokenLogprob"/> list under the same key.
    /// </summary>
    public const string LogprobsKey = "logprobs";

    /// <summary>The model's name (its folder's name), reported in responses.</summary>
    public string ModelId { get; }

    /// <summary>The model's tokenizer (the client needs one).</summary>
    public TextTokenizer Tokenizer => _model.Tokenizer!;

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<AiMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        GenerationRequest request = Request(messages, options);
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            GenerationResult result = await Task.Run(() => _generator.Generate(request, _ => cancellationToken.ThrowIfCancellationRequested()), cancellationToken).ConfigureAwait(false);
            return new ChatResponse(new AiMessage(ChatRole.Assistant, result.Text))
            {
                ModelId = ModelId,
                CreatedAt = DateTimeOffset.UtcNow,
                FinishReason = Reason(result.Finish),
                Usage = Usage(request, result),
                AdditionalProperties = Statistics(result),
            };
        }
        finally { _turn.Release(); }
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        GenerationRequest request = Request(messages, options);
        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        // Stopped when the caller cancels or stops reading early: the generation must end before the next one starts.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<GenerationResult>? run = null;
        try
        {
            // The generator calls back on its own thread as text is committed; the channel hands it to the caller.
            var text = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
            run = Task.Run(() =>
            {
                try
                {
                    return _generator.Generate(request, piece =>
                    {
                        stop.Token.ThrowIfCancellationRequested();
                        text.Writer.TryWrite(piece);
                    });
                }
                finally { text.Writer.TryComplete(); }
            }, CancellationToken.None); // always started, so that the channel is always completed
            await foreach (string piece in text.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return new ChatResponseUpdate(ChatRole.Assistant, piece) { ResponseId = id, ModelId = ModelId };
            }
            GenerationResult result = await run.ConfigureAwait(false);
            yield return new ChatResponseUpdate
            {
                Role = ChatRole.Assistant,
                ResponseId = id,
                ModelId = ModelId,
                FinishReason = Reason(result.Finish),
                Contents = [new UsageContent(Usage(request, result))],
                AdditionalProperties = Statistics(result),
            };
        }
        finally
        {
            if (run is { IsCompleted: false })
            {
                stop.Cancel();
                try { await run.ConfigureAwait(false); } catch (OperationCanceledException) { }
            }
            _turn.Release();
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? _metadata
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType == typeof(LlamaModel) ? _model
        : null;

    public void Dispose() => _turn.Dispose();

    /// <summary>The prompt and sampling of a call; bad messages or options throw <see cref="ArgumentException"/>.</summary>
    GenerationRequest Request(IEnumerable<AiMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new List<TemplateMessage>();
        foreach (AiMessage m in messages)
        {
            string role = m.Role == ChatRole.System ? TemplateMessage.SystemRole
                : m.Role == ChatRole.User ? TemplateMessage.UserRole
                : m.Role == ChatRole.Assistant ? TemplateMessage.AssistantRole
                : throw new ArgumentException($"message role '{m.Role}' is not supported (system, user, assistant)", nameof(messages));
            turns.Add(new TemplateMessage(role, m.Text));
        }
        if (turns.Count == 0) throw new ArgumentException("no messages", nameof(messages));
        long atLeast = turns.Sum(t => _model.Tokenizer!.MinimumTokens(t.Content));
        if (atLeast >= _generator.Context)
            throw new ArgumentException($"the prompt has at least {atLeast} tokens but the context holds {_generator.Context}: no room to generate");
        IReadOnlyList<int> tokens = _template.Encode(_model.Tokenizer!, turns, addGenerationPrompt: true);

        GenerationDefaults d = _model.Defaults;
        float temperature = options?.Temperature ?? d.Temperature;
        float topP = options?.TopP ?? d.TopP;
        int topK = options?.TopK ?? d.TopK;
        int maxTokens = options?.MaxOutputTokens ?? d.MaxNewTokens ?? 256;
        ulong seed = options?.Seed is long s ? unchecked((ulong)s) : (ulong)Random.Shared.NextInt64();
        var request = new GenerationRequest(tokens, maxTokens, new SamplingOptions(temperature, topK, topP, seed))
        {
            StopStrings = options?.StopSequences?.ToArray() ?? [],
            Logprobs = options?.AdditionalProperties?.TryGetValue(LogprobsKey, out object? top) == true ? Convert.ToInt32(top) : null,
        };
        request.Validate();
        return request;
    }

    static ChatFinishReason Reason(FinishReason f) =>
        f is FinishReason.MaxTokens or FinishReason.ContextFull ? ChatFinishReason.Length : ChatFinishReason.Stop;

    static UsageDetails Usage(GenerationRequest request, GenerationResult result) => new()
    {
        InputTokenCount = request.PromptTokens.Count,
        OutputTokenCount = result.Tokens.Count,
        TotalTokenCount = request.PromptTokens.Count + result.Tokens.Count,
    };

    static AdditionalPropertiesDictionary Statistics(GenerationResult result)
    {
        var properties = new AdditionalPropertiesDictionary
        {
            ["method"] = result.Stats.Method,
            ["tau"] = result.Stats.Tau,
            ["tokensPerSecond"] = result.Stats.TokensPerSecond,
        };
        if (result.Logprobs is not null) properties[LogprobsKey] = result.Logprobs;
        return properties;
    }
}
