using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Tests.Model;

namespace CtcDrafter.Tests.Speculative;

/// <summary>Continuous batching: requests decoded together give exactly what each gives alone.</summary>
public class BatchGeneratorTests
{
    /// <summary>A random model of vocabulary 11; an endless one never ends a sequence by itself (its end token is outside the vocabulary).</summary>
    static LlamaModel SmallModel(TempDir dir, int context = 160, bool endless = false)
    {
        ModelConfig c = RandomModel.Config(hidden: 64, ffn: 96, layers: 2, heads: 4, kvHeads: 2, vocab: 11, context: context);
        return TestModels.Load(TestModels.Write(dir, endless ? c with { EosTokenIds = [1000] } : c));
    }

    /// <summary>
    /// Twelve requests (greedy and sampled, prompts of 3 to 70 tokens, every method, random lengths) into three
    /// slots at once: each returns token for token what a generator alone returns for it, and the draft tokens are
    /// verified (some accepted), while the slots hold several sequences at a time.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EveryRequestOfABatchGetsWhatItGetsAlone(bool adaptive)
    {
        using var dir = new TempDir();
        using var m = SmallModel(dir);
        string eagle = TestDrafts.Write(dir["eagle"], m, DraftKind.Eagle), ctc = TestDrafts.Write(dir["ctc"], m, DraftKind.Ctc, BlankMode.Own);
        string nar = TestDrafts.Write(dir["nar"], m, DraftKind.CtcNar, BlankMode.Own), medusa = TestDrafts.Write(dir["medusa"], m, DraftKind.Medusa);
        IDrafter Make(string method) => DrafterFactory.Create(method, m, method switch { "eagle" => eagle, "ctc" => ctc, "ctc-nar" => nar, "medusa" => medusa, _ => null });
        string[] methods = ["vanilla", "ctc", "eagle", "prompt-lookup", "ctc-nar", "medusa"];
        using var batch = new BatchGenerator(m, [.. methods.Select(Make)], new BatchOptions { Parallel = 3, MaxTreeNodes = 8, Adaptive = adaptive });
        var rng = new Random(7);
        var requests = Enumerable.Range(0, 12).Select(i =>
        {
            int[] prompt = TestModels.RandomTokens(rng, 3 + rng.Next(68), 11);
            var sampling = i % 3 == 0 ? SamplingOptions.Greedy : new SamplingOptions(0.8f) { Seed = (ulong)(100 + i) };
            return (Request: new GenerationRequest(prompt, 20 + rng.Next(40), sampling), Method: methods[i % methods.Length]);
        }).ToArray();
        Task<GenerationResult>[] running = [.. requests.Select(r => batch.GenerateAsync(r.Request, r.Method))];
        // The load is watched from a thread of its own: a poll on the thread pool can miss every busy step when the
        // machine is loaded (other tests run beside this one).
        int most = 0;
        var watcher = new Thread(() => { while (!running.All(t => t.IsCompleted)) { most = Math.Max(most, batch.Load().Active); Thread.Yield(); } });
        watcher.Start();
        GenerationResult[] results = await Task.WhenAll(running);
        watcher.Join();
        Assert.True(most >= 2, $"the slots never held two sequences at once (most {most})");
        int drafted = 0;
        for (int i = 0; i < requests.Length; i++)
        {
            GenerationResult alone = new Generator(m, Make(requests[i].Method), 8).Generate(requests[i].Request);
            Assert.Equal(alone.Tokens, results[i].Tokens);
            Assert.Equal(alone.Text, results[i].Text);
            Assert.Equal(requests[i].Method, results[i].Stats.Method);
            if (requests[i].Method != "vanilla") drafted += results[i].Tokens.Count - results[i].Stats.Steps;
        }
        Assert.True(drafted > 0, "no draft token was ever accepted");
    }

    /// <summary>A request that continues an earlier conversation goes to the slot holding it and runs only its new tokens.</summary>
    [Fact]
    public async Task AConversationsNextTurnReusesItsSlotsCache()
    {
        using var dir = new TempDir();
        using var m = SmallModel(dir);
        using var batch = new BatchGenerator(m, options: new BatchOptions { Parallel = 2 });
        int[] a = TestModels.RandomTokens(new Random(1), 30, 11), b = TestModels.RandomTokens(new Random(2), 30, 11);
        GenerationResult first = await batch.GenerateAsync(new GenerationRequest(a, 10, SamplingOptions.Greedy));
        await batch.GenerateAsync(new GenerationRequest(b, 10, SamplingOptions.Greedy));
        int[] next = [.. a, .. first.Tokens, 3, 4, 5];
        GenerationResult turn = await batch.GenerateAsync(new GenerationRequest(next, 10, SamplingOptions.Greedy));
        Assert.Equal(a.Length + first.Tokens.Count - 1, turn.Stats.CachedTokens); // the last output token was never run
        Assert.Equal(new Generator(m).Generate(new GenerationRequest(next, 10, SamplingOptions.Greedy)).Tokens, turn.Tokens);
    }

    /// <summary>Beyond the slots and the queue a request is refused at once; a cancelled one frees its slot; a time limit ends a request with its text so far.</summary>
    [Fact]
    public async Task TheQueueIsBoundedCancellingFreesASlotAndTimeLimitsHold()
    {
        using var dir = new TempDir();
        using var m = SmallModel(dir, context: 4096, endless: true);
        int[] prompt = TestModels.RandomTokens(new Random(3), 8, 11);
        var endless = new GenerationRequest(prompt, 4000, new SamplingOptions(1f) { Seed = 1 });
        using (var batch = new BatchGenerator(m, options: new BatchOptions { Parallel = 1, Queue = 1 }))
        {
            using var stop = new CancellationTokenSource();
            Task<GenerationResult> running = batch.GenerateAsync(endless, cancellationToken: stop.Token);
            await Decoding(batch);
            Task<GenerationResult> waiting = batch.GenerateAsync(new GenerationRequest(prompt, 5, SamplingOptions.Greedy));
            var full = Assert.Throws<QueueFullException>(() => { _ = batch.GenerateAsync(new GenerationRequest(prompt, 5, SamplingOptions.Greedy)); });
            Assert.Contains("1 requests are already waiting", full.Message);
            Assert.True(full.RetryAfter >= TimeSpan.FromSeconds(1));
            Assert.Equal((1, 1), batch.Load());
            stop.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => running);
            Assert.Equal(5, (await waiting).Tokens.Count);
        }
        using (var limited = new BatchGenerator(m, options: new BatchOptions { Parallel = 1, Timeout = TimeSpan.FromMilliseconds(300) }))
        {
            // The first holds the slot 300 ms; the second may get it just in time or not; the third waits longer.
            Task<GenerationResult> first = limited.GenerateAsync(endless), second = limited.GenerateAsync(endless), third = limited.GenerateAsync(endless);
            GenerationResult result = await first;
            Assert.Equal(FinishReason.TimeLimit, result.Finish);
            Assert.InRange(result.Tokens.Count, 1, 3999);
            try { Assert.Equal(FinishReason.TimeLimit, (await second).Finish); }
            catch (TimeoutException) { }
            Assert.Contains("time limit", (await Assert.ThrowsAsync<TimeoutException>(() => third)).Message);
        }
    }

    [Fact]
    public async Task DisposingEndsEveryRequestAndBadRequestsAreRefusedAtOnce()
    {
        using var dir = new TempDir();
        using var m = SmallModel(dir, context: 4096, endless: true);
        var batch = new BatchGenerator(m, options: new BatchOptions { Parallel = 1 });
        int[] prompt = TestModels.RandomTokens(new Random(3), 8, 11);
        Task<GenerationResult> running = batch.GenerateAsync(new GenerationRequest(prompt, 4000, SamplingOptions.Greedy));
        Task<GenerationResult> waiting = batch.GenerateAsync(new GenerationRequest(prompt, 4000, SamplingOptions.Greedy));
        await Decoding(batch);
        batch.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => running);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => waiting);
        Assert.Throws<ObjectDisposedException>(() => { _ = batch.GenerateAsync(new GenerationRequest(prompt, 5, SamplingOptions.Greedy)); });

        using var open = new BatchGenerator(m);
        Assert.Contains("method 'eagle' is not served", Assert.Throws<ArgumentException>(() => { _ = open.GenerateAsync(new GenerationRequest(prompt, 5, SamplingOptions.Greedy), "eagle"); }).Message);
        Assert.Contains("context holds 4096", Assert.Throws<ArgumentException>(() => { _ = open.GenerateAsync(new GenerationRequest(new int[4096], 5, SamplingOptions.Greedy)); }).Message);
        Assert.Throws<RequestFieldException>(() => { _ = open.GenerateAsync(new GenerationRequest(prompt, 0, SamplingOptions.Greedy)); });
        Assert.Throws<ArgumentException>(() => new BatchGenerator(m, [new NoDrafter(), new NoDrafter()]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new BatchGenerator(m, options: new BatchOptions { Parallel = 0 }));
    }

    /// <summary>A request whose text reader fails ends alone: the others in the batch, and the next request, are served.</summary>
    [Fact]
    public async Task AFailingRequestEndsAlone()
    {
        using var m = LlamaModel.Load(Path.Combine(TestData.RepoRoot, "models", "ref-s"));
        using var batch = new BatchGenerator(m, options: new BatchOptions { Parallel = 2 });
        var request = new GenerationRequest(m.Tokenizer!.Encode("Once upon a time", addBos: true), 30, SamplingOptions.Greedy);
        Task<GenerationResult> failing = batch.GenerateAsync(request, onText: _ => throw new InvalidOperationException("reader gone"));
        Task<GenerationResult> other = batch.GenerateAsync(request);
        Assert.Equal("reader gone", (await Assert.ThrowsAsync<InvalidOperationException>(() => failing)).Message);
        GenerationResult expected = new Generator(m).Generate(request);
        Assert.Equal(expected.Tokens, (await other).Tokens);
        Assert.Equal(expected.Tokens, (await batch.GenerateAsync(request)).Tokens);
    }

    // Until the generator has admitted a request into a slot.
    static async Task Decoding(BatchGenerator batch)
    {
        for (int i = 0; i < 2000 && batch.Load().Active == 0; i++) await Task.Delay(5);
        Assert.Equal(1, batch.Load().Active);
    }
}
