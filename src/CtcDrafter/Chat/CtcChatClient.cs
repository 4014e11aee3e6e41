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
/// is the base model's own either way), and streamed as tokens are committed (after a first update without text,
/// as soon as the generator has accepted the request). Alone, a client generates one answer
/// at a time (concurrent calls wait their turn); over a shared <see cref="BatchGenerator"/> its calls are decoded
/// together with everyone else's. Options the client cannot honour (tools, a response format, penalties, stored
/// conversations, reasoning) throw <see cref="NotSupportedException"/> naming the option.
/// <see cref="Dispose"/> may be called during a generation: it stops the client's generations, waits until they no
/// longer read the model, and the interrupted calls throw <see cref="ObjectDisposedException"/>. The client does not
/// own the model, the drafter or a shared generator.
/// </summary>
public sealed class CtcChatClient : IChatClient
{
    readonly LlamaModel _model;
    readonly ChatTemplate _template;
    readonly BatchGenerator _engine;
    readonly bool _ownsEngine;
    readonly ChatClientMetadata _metadata;
    // Cancelled by Dispose, never disposed itself: a call ending after Dispose may still read its token.
    readonly CancellationTokenSource _disposing = new();
    readonly Lock _gate = new();
    readonly HashSet<Task> _running = []; // the client's generations in the engine
    bool _disposed;

    /// <param name="template">The chat template; by default the one the model folder declares, else vicuna_v1.1.</param>
    /// <param name="drafter">A drafter for speculative decoding; null decodes plainly.</param>
    /// <param name="maxTreeNodes">
    /// Most tree nodes verified per step (the budget adapts below it, from the model's verification cost curve,
    /// measured once per model on the first generation).
    /// </param>
    public CtcChatClient(LlamaModel model, ChatTemplate? template = null, IDrafter? drafter = null, int maxTreeNodes = 32)
        : this(new BatchGenerator(model, drafter is null ? null : [drafter],
            new BatchOptions { Parallel = 1, Queue = int.MaxValue, MaxTreeNodes = maxTreeNodes, Adaptive = drafter is not null }), null, template, ownsEngine: true)
    {
    }

    /// <summary>A client over a generator shared with other clients (a server's slots), generating with <paramref name="method"/> (the generator's default when null).</summary>
    public CtcChatClient(BatchGenerator engine, string? method = null, ChatTemplate? template = null) : this(engine, method, template, ownsEngine: false)
    {
    }

    CtcChatClient(BatchGenerator engine, string? method, ChatTemplate? template, bool ownsEngine)
    {
        (_engine, _ownsEngine, _model) = (engine, ownsEngine, engine.Model);
        if (_model.Tokenizer is null)
        {
            if (ownsEngine) engine.Dispose();
            throw new ArgumentException($"{_model.Folder} has no tokenizer: a chat client needs one", nameof(engine));
        }
        Method = method ?? engine.DefaultMethod;
        if (!engine.Methods.Contains(Method)) throw new ArgumentException($"method '{Method}' is not served by the generator (methods: {string.Join(", ", engine.Methods)})", nameof(method));
        _template = template ?? ChatTemplate.Recognize(_model.ChatTemplateText) ?? ChatTemplate.Get("vicuna_v1.1");
        ModelId = Path.GetFileName(Path.TrimEndingDirectorySeparator(_model.Folder));
        _metadata = new ChatClientMetadata("ctcdrafter", null, ModelId);
    }

    /// <summary>
    /// <see cref="ChatOptions.AdditionalProperties"/> key asking for log-probabilities with that many alternatives
    /// per token (an int, 0..20); the response's (or the last update's) additional properties then hold the
    /// <see cref="TokenLogprob"/> list under the same key.
    /// </summary>
    public const string LogprobsKey = "logprobs";

    /// <summary>
    /// Key of the response's (or the last update's) additional property holding the generation's
    /// <see cref="GenerationStats"/>: method, tau, acceptance per depth, prefill and decode times.
    /// </summary>
    public const string StatsKey = "stats";

    /// <summary>
    /// Key of a streamed text update's additional property holding how its token was made (an int): 0 the base
    /// model's own token, d ≥ 1 a draft token accepted at depth d (see <see cref="TextPiece"/>).
    /// </summary>
    public const string DepthKey = "depth";

    /// <summary>The model's name (its folder's name), reported in responses.</summary>
    public string ModelId { get; }

    /// <summary>The speculative decoding method: the drafter's name, "vanilla" without one.</summary>
    public string Method { get; }

    /// <summary>The model's tokenizer (the client needs one).</summary>
    public TextTokenizer Tokenizer => _model.Tokenizer!;

    public Task<ChatResponse> GetResponseAsync(IEnumerable<AiMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default) =>
        Respond(Request(Chat(messages, options), options), "chatcmpl-", cancellationToken);

    public IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AiMessage> messages, ChatOptions? options = null,
        CancellationToken cancellationToken = default) =>
        Stream(Request(Chat(messages, options), options), "chatcmpl-", cancellationToken);

    /// <summary>Plain-text completion: <paramref name="prompt"/> (after BOS) continued, no chat template.</summary>
    internal Task<ChatResponse> CompleteAsync(string prompt, ChatOptions? options, CancellationToken cancellationToken) =>
        Respond(Request(Text(prompt), options), "cmpl-", cancellationToken);

    /// <summary><see cref="CompleteAsync"/> streamed as tokens are committed.</summary>
    internal IAsyncEnumerable<ChatResponseUpdate> CompleteStreamingAsync(string prompt, ChatOptions? options, CancellationToken cancellationToken) =>
        Stream(Request(Text(prompt), options), "cmpl-", cancellationToken);

    async Task<ChatResponse> Respond(GenerationRequest request, string idPrefix, CancellationToken cancellationToken)
    {
        string id = idPrefix + Guid.NewGuid().ToString("N");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        GenerationResult result = await Finished(Start(request, null, stop.Token), cancellationToken).ConfigureAwait(false);
        return new ChatResponse(new AiMessage(ChatRole.Assistant, result.Text) { MessageId = id })
        {
            ResponseId = id,
            ModelId = ModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = Reason(result.Finish),
            Usage = Usage(result),
            AdditionalProperties = Properties(result),
        };
    }

    async IAsyncEnumerable<ChatResponseUpdate> Stream(GenerationRequest request, string idPrefix, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        string id = idPrefix + Guid.NewGuid().ToString("N");
        DateTimeOffset created = DateTimeOffset.UtcNow;
        // Stopped when the caller cancels, stops reading early or disposes.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _disposing.Token);
        // The generator calls back on its own thread as text is committed; the channel hands it to the caller.
        var text = Channel.CreateUnbounded<TextPiece>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        Task<GenerationResult> run = Start(request, piece => text.Writer.TryWrite(piece), stop.Token);
        _ = run.ContinueWith(_ => text.Writer.TryComplete(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        try
        {
            // The request is accepted (it decodes, or waits for a slot): an update without text says so at once.
            yield return new ChatResponseUpdate { Role = ChatRole.Assistant, ResponseId = id, MessageId = id, CreatedAt = created, ModelId = ModelId };
            await foreach (TextPiece piece in text.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false))
            {
                cancellationToken.ThrowIfCancellationRequested();
                yield return new ChatResponseUpdate(ChatRole.Assistant, piece.Text)
                {
                    ResponseId = id, MessageId = id, CreatedAt = created, ModelId = ModelId,
                    AdditionalProperties = new() { [DepthKey] = piece.Depth },
                };
            }
            GenerationResult result = await Finished(run, cancellationToken).ConfigureAwait(false);
            yield return new ChatResponseUpdate
            {
                Role = ChatRole.Assistant,
                ResponseId = id,
                MessageId = id,
                CreatedAt = created,
                ModelId = ModelId,
                FinishReason = Reason(result.Finish),
                Contents = [new UsageContent(Usage(result))],
                AdditionalProperties = Properties(result),
            };
        }
        finally
        {
            if (!run.IsCompleted)
            {
                stop.Cancel();
                try { await run.ConfigureAwait(false); } catch (OperationCanceledException) { }
            }
        }
    }

    /// <summary>Hands the request to the generator, known to <see cref="Dispose"/>; throws <see cref="ObjectDisposedException"/> once disposed.</summary>
    Task<GenerationResult> Start(GenerationRequest request, Action<TextPiece>? onText, CancellationToken stop)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            Task<GenerationResult> run = _engine.GenerateAsync(request, Method, onText, stop);
            _running.Add(run);
            _ = run.ContinueWith(t => { lock (_gate) _running.Remove(t); }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return run;
        }
    }

    /// <summary>The generation's result; stopped by <see cref="Dispose"/> (not by the caller), it throws <see cref="ObjectDisposedException"/>.</summary>
    async Task<GenerationResult> Finished(Task<GenerationResult> run, CancellationToken caller)
    {
        try { return await run.ConfigureAwait(false); }
        catch (OperationCanceledException) when (_disposing.IsCancellationRequested && !caller.IsCancellationRequested)
        {
            throw new ObjectDisposedException(nameof(CtcChatClient), "the client was disposed during the generation");
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? _metadata
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType == typeof(LlamaModel) ? _model
        : null;

    /// <summary>
    /// Stops the client's generations and returns once they no longer read the model (at the generator's next
    /// step), so that the model may be disposed right after when nothing else uses it; later calls throw
    /// <see cref="ObjectDisposedException"/>.
    /// </summary>
    public void Dispose()
    {
        Task[] running;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            running = [.. _running];
        }
        _disposing.Cancel();
        try { Task.WaitAll(running); }
        catch (AggregateException) { } // ended by the cancellation (or failed): either way they have stopped
        if (_ownsEngine) _engine.Dispose();
    }

    /// <summary>The chat template's prompt for <paramref name="messages"/> (and the options' instructions, as a system message first).</summary>
    IReadOnlyList<int> Chat(IEnumerable<AiMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = new List<TemplateMessage>();
        if (options?.Instructions is string instructions) turns.Add(new TemplateMessage(TemplateMessage.SystemRole, instructions));
        foreach (AiMessage m in messages)
        {
            string role = m.Role == ChatRole.System ? TemplateMessage.SystemRole
                : m.Role == ChatRole.User ? TemplateMessage.UserRole
                : m.Role == ChatRole.Assistant ? TemplateMessage.AssistantRole
                : throw new ArgumentException($"message role '{m.Role}' is not supported (system, user, assistant)", nameof(messages));
            turns.Add(new TemplateMessage(role, m.Text));
        }
        if (turns.Count == 0) throw new ArgumentException("no messages", nameof(messages));
        CheckLength(turns.Sum(t => _model.Tokenizer!.MinimumTokens(t.Content)));
        return _template.Encode(_model.Tokenizer!, turns, addGenerationPrompt: true);
    }

    IReadOnlyList<int> Text(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        CheckLength(_model.Tokenizer!.MinimumTokens(prompt));
        return _model.Tokenizer!.Encode(prompt, addBos: true);
    }

    // Refused before tokenizing: a huge prompt is known too long from its length alone.
    void CheckLength(long atLeast)
    {
        if (atLeast >= _model.ContextLength)
            throw new ArgumentException($"the prompt has at least {atLeast} tokens but the context holds {_model.ContextLength}: no room to generate");
    }

    /// <summary>The prompt and sampling of a call; bad options throw <see cref="ArgumentException"/>, unsupported ones <see cref="NotSupportedException"/>.</summary>
    GenerationRequest Request(IReadOnlyList<int> tokens, ChatOptions? options)
    {
        RefuseUnsupported(options);
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

    static void RefuseUnsupported(ChatOptions? o)
    {
        if (o is null) return;
        static void Refuse(string option, string why) => throw new NotSupportedException($"ChatOptions.{option}: {why}");
        if (o.Tools is { Count: > 0 }) Refuse(nameof(o.Tools), "CtcChatClient does not call tools");
        if (o.ToolMode is RequiredChatToolMode) Refuse(nameof(o.ToolMode), "CtcChatClient does not call tools");
        if (o.ResponseFormat is not null and not ChatResponseFormatText) Refuse(nameof(o.ResponseFormat), "only plain text is generated (no JSON mode or schema)");
        if (o.FrequencyPenalty is not (null or 0)) Refuse(nameof(o.FrequencyPenalty), "penalties would change the base model's distribution, which speculative decoding keeps exactly");
        if (o.PresencePenalty is not (null or 0)) Refuse(nameof(o.PresencePenalty), "penalties would change the base model's distribution, which speculative decoding keeps exactly");
        if (o.ConversationId is not null) Refuse(nameof(o.ConversationId), "conversations are not stored: pass the whole conversation as messages");
        if (o.ContinuationToken is not null) Refuse(nameof(o.ContinuationToken), "there are no background responses");
        if (o.Reasoning is not null) Refuse(nameof(o.Reasoning), "the model has no reasoning mode");
    }

    static ChatFinishReason Reason(FinishReason f) =>
        f is FinishReason.MaxTokens or FinishReason.ContextFull or FinishReason.TimeLimit ? ChatFinishReason.Length : ChatFinishReason.Stop;

    static UsageDetails Usage(GenerationResult result) => new()
    {
        InputTokenCount = result.Stats.PromptTokens,
        CachedInputTokenCount = result.Stats.CachedTokens,
        OutputTokenCount = result.Tokens.Count,
        TotalTokenCount = result.Stats.PromptTokens + result.Tokens.Count,
    };

    static AdditionalPropertiesDictionary Properties(GenerationResult result)
    {
        var properties = new AdditionalPropertiesDictionary { [StatsKey] = result.Stats };
        if (result.Logprobs is not null) properties[LogprobsKey] = result.Logprobs;
        return properties;
    }
}
