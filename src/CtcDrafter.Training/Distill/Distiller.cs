using System.Diagnostics;
using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Kernels;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;
using CtcDrafter.Training.Pretraining;

namespace CtcDrafter.Training.Distill;

/// <summary>
/// Self-distillation: the base model answers prompts through the C# engine (greedy; prompt-lookup drafting only
/// makes it faster, the output is the same), then one causal pass over prompt + answer gives its post-norm hidden
/// states at every position. Chat prompts are rendered with the vicuna_v1.1 template the models are trained and
/// evaluated with, and encoded with special tokens parsed; story openings are continued raw after BOS.
/// </summary>
internal sealed class Distiller
{
    const string Template = "vicuna_v1.1";

    readonly LlamaModel _model;
    readonly TextTokenizer _tokenizer;
    readonly ChatTemplate _chat = ChatTemplate.Get(Template);
    readonly Generator _generator;

    public Distiller(LlamaModel model, int maxNewTokens, int maxPromptTokens)
    {
        _model = model;
        _tokenizer = model.Tokenizer ?? throw new TrainingInputException($"{model.Folder}: the base model folder has no tokenizer");
        if (maxNewTokens <= 0) throw new TrainingInputException($"--max-new-tokens must be positive (got {maxNewTokens})");
        if (maxPromptTokens <= 0) throw new TrainingInputException($"--max-prompt-tokens must be positive (got {maxPromptTokens})");
        Header = new DistillHeader(BaseIdentity.Of(model), model.Config.HiddenSize, model.Config.VocabSize, maxNewTokens,
            Math.Min(maxPromptTokens, model.ContextLength - maxNewTokens), Template);
        if (Header.MaxPromptTokens <= 0)
            throw new TrainingInputException($"--max-new-tokens {maxNewTokens} leaves no room for a prompt in the model's context of {model.ContextLength}");
        _generator = new Generator(model, new PromptLookupDrafter(), maxTreeNodes: 8);
    }

    public DistillHeader Header { get; }

    /// <summary>The prompt's token ids, BOS first.</summary>
    public int[] Encode(DistillPrompt prompt) => prompt.Chat
        ? [.. _chat.Encode(_tokenizer, [new ChatMessage(ChatMessage.UserRole, prompt.Text)], addGenerationPrompt: true)]
        : [.. _tokenizer.Encode(prompt.Text, addBos: true)];

    public bool Fits(DistillPrompt prompt) => Encode(prompt).Length <= Header.MaxPromptTokens;

    /// <summary>The base model's answer to one prompt and its hidden states.</summary>
    public DistillSample Answer(DistillPrompt prompt)
    {
        int[] promptTokens = Encode(prompt);
        var result = _generator.Generate(new GenerationRequest(promptTokens, Header.MaxNewTokens, SamplingOptions.Greedy));
        int[] tokens = [.. promptTokens, .. result.Tokens];
        float[] hidden = _model.SequenceHiddenStates(tokens); // [tokens, hidden]
        var bits = new ushort[hidden.Length];
        for (int i = 0; i < hidden.Length; i++) bits[i] = Conversions.F32ToBf16(hidden[i]);
        var mask = new byte[tokens.Length];
        Array.Fill(mask, (byte)1, promptTokens.Length, result.Tokens.Count);
        string finish = result.Finish switch
        {
            FinishReason.EndOfSequence => "eos",
            FinishReason.ContextFull => "context_full",
            _ => "max_tokens",
        };
        return new DistillSample(prompt.Id, prompt.Source, tokens, mask, bits, finish);
    }

    /// <summary>
    /// Answers every prompt of the plan not yet in the store, writing a shard when it reaches
    /// <paramref name="shardBytes"/> or every <paramref name="flushMinutes"/>, and at the end or on cancellation.
    /// Returns whether the plan was completed.
    /// </summary>
    public bool Run(IReadOnlyList<DistillPrompt> plan, DistillStore store, long shardBytes, double flushMinutes,
        Action<TrainingEvent> report, CancellationToken cancellation)
    {
        var todo = plan.Where(p => !store.Contains(p.Id)).ToList();
        int done = plan.Count - todo.Count;
        long tokens = 0;
        var clock = Stopwatch.StartNew();
        var sinceFlush = Stopwatch.StartNew();
        foreach (var prompt in todo)
        {
            if (cancellation.IsCancellationRequested) break;
            var sample = Answer(prompt);
            store.Add(sample);
            done++;
            tokens += sample.AnswerTokens;
            double rate = tokens / Math.Max(1e-9, clock.Elapsed.TotalSeconds);
            double perSample = clock.Elapsed.TotalSeconds / (done - (plan.Count - todo.Count));
            report(new SampleDistilled(done, plan.Count, sample.Id, sample.AnswerTokens, rate, clock.Elapsed,
                TimeSpan.FromSeconds(perSample * (plan.Count - done))));
            if (store.PendingBytes >= shardBytes || sinceFlush.Elapsed.TotalMinutes >= flushMinutes)
            {
                store.Flush();
                sinceFlush.Restart();
            }
        }
        store.Flush();
        return done == plan.Count;
    }
}
