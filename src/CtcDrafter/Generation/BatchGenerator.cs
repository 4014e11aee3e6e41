using System.Diagnostics;
using CtcDrafter.Drafters;
using CtcDrafter.Model;
using CtcDrafter.Speculative;

namespace CtcDrafter.Generation;

/// <summary>
/// Serves many generations at once over one model (continuous batching): up to <see cref="BatchOptions.Parallel"/>
/// sequences (slots) are decoded together, each step one forward pass over the rows of all of them (a prompt chunk,
/// a draft tree, or a single token), so the weights are read once per step for the whole batch. A request joins
/// at the next step after a slot frees and leaves as soon as it finishes; beyond the slots at most
/// <see cref="BatchOptions.Queue"/> requests wait. Every sequence's output is exactly what it would be alone
/// (greedy identical, same-seed sampling identical), whatever else is in the batch: each row of a pass computes
/// bitwise as it does alone (<see cref="Transformer"/>) and each sequence keeps its own sampler, drafter and cache.
/// A slot keeps its cache after a request, and a request goes to the free slot holding the longest prefix of its
/// prompt (the previous turns of its conversation), which it does not run again. Thread-safe.
/// </summary>
public sealed class BatchGenerator : IDisposable
{
    /// <summary>One request: waiting for a slot, then decoding in one.</summary>
    sealed class Job(GenerationRequest request, string method, Action<TextPiece>? onText, CancellationToken cancellation, long? limit)
    {
        public GenerationRequest Request { get; } = request;
        public string Method { get; } = method;
        public Action<TextPiece>? OnText { get; } = onText;
        public CancellationToken Cancellation { get; } = cancellation;
        public long? Limit { get; } = limit;        // Stopwatch ticks it may wait, then decode
        public long Since { get; set; } = Stopwatch.GetTimestamp(); // its arrival, then its admission
        public TaskCompletionSource<GenerationResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public Decoding? Decoding { get; set; }
        public CancellationTokenRegistration Registration { get; set; }
        public bool Expired => Limit is long l && Stopwatch.GetTimestamp() - Since >= l;
    }

    /// <summary>A sequence's cache and the drafters that follow it (one per method, made when first used).</summary>
    sealed class Slot(Session session)
    {
        public Session Session { get; } = session;
        public Dictionary<string, IDrafter> Drafters { get; } = [];
        public Job? Job { get; set; }
        public long LastUsed { get; set; }
    }

    readonly LlamaModel _model;
    readonly BatchOptions _options;
    readonly Dictionary<string, IDrafter> _methods = [];   // prototypes: slots spawn their own
    readonly Dictionary<string, TreeBudget> _budgets = []; // one per method, shared by its sequences
    readonly Slot[] _slots;
    readonly Queue<Job> _waiting = new();
    readonly object _gate = new();
    readonly Thread _loop;
    readonly int[] _features; // the base states every slot keeps: those of all served drafters
    Transformer? _pass;
    float[]? _logits;
    long _uses;
    double _meanSeconds = 1; // running mean duration of a generation, for Retry-After
    bool _disposed;

    /// <param name="drafters">The methods served, one drafter each (its weights are shared by every slot's copy); the first is the default. None: plain decoding only.</param>
    public BatchGenerator(LlamaModel model, IReadOnlyList<IDrafter>? drafters = null, BatchOptions? options = null)
    {
        _model = model;
        _options = options ?? new BatchOptions();
        _options.Validate();
        foreach (IDrafter d in drafters is { Count: > 0 } ? drafters : [new NoDrafter()])
            if (!_methods.TryAdd(d.Name, d)) throw new ArgumentException($"method '{d.Name}' is given twice", nameof(drafters));
        DefaultMethod = _methods.Keys.First();
        _slots = new Slot[_options.Parallel];
        // Every slot keeps the base states any served drafter reads, so a slot's cached prefix serves every method.
        _features = BaseFeatures.Union(_methods.Values.Select(d => d.Features));
        for (int i = 0; i < _slots.Length; i++) _slots[i] = new Slot(new Session(model, _features));
        _loop = new Thread(Run) { IsBackground = true, Name = "ctcdrafter batch" };
        _loop.Start();
    }

    /// <summary>The methods served (drafter names, "vanilla" for plain decoding); the first is the default.</summary>
    public IReadOnlyCollection<string> Methods => _methods.Keys;

    public string DefaultMethod { get; }

    public LlamaModel Model => _model;

    public BatchOptions Options => _options;

    /// <summary>
    /// Generates with <paramref name="method"/> (the default when null); <paramref name="onText"/> receives the text
    /// as tokens are committed, on the generator's thread (it must not block: hand the text on). Cancelling ends the
    /// request at the next step, its slot free for the next one.
    /// </summary>
    /// <exception cref="ArgumentException">An unknown method, an invalid request, or a prompt that does not fit the context (thrown at once).</exception>
    /// <exception cref="QueueFullException">Every slot is busy and the queue is full (thrown at once).</exception>
    /// <exception cref="TimeoutException">The request's time limit passed before a slot freed (the task fails).</exception>
    public Task<GenerationResult> GenerateAsync(GenerationRequest request, string? method = null, Action<TextPiece>? onText = null,
        CancellationToken cancellationToken = default)
    {
        request.Validate();
        Session.CheckPrompt(request.PromptTokens, _model.Config.VocabSize, _model.ContextLength);
        method ??= DefaultMethod;
        if (!_methods.ContainsKey(method)) throw new ArgumentException($"method '{method}' is not served here (methods: {string.Join(", ", _methods.Keys)})", nameof(method));
        long? limit = _options.Timeout is { } t ? (long)(t.TotalSeconds * Stopwatch.Frequency) : null;
        var job = new Job(request, method, onText, cancellationToken, limit);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_waiting.Count >= _options.Queue && !_slots.Any(s => s.Job is null))
                throw new QueueFullException(_waiting.Count, RetryAfter());
            // A request cancelled while it waits ends at once; one that decodes ends at the loop's next step.
            job.Registration = cancellationToken.Register(() =>
            {
                if (job.Decoding is null) job.Done.TrySetCanceled(cancellationToken);
                lock (_gate) Monitor.PulseAll(_gate);
            });
            _waiting.Enqueue(job);
            Monitor.PulseAll(_gate);
        }
        return job.Done.Task;
    }

    /// <summary>Requests decoding now and waiting, as a server reports its load.</summary>
    public (int Active, int Waiting) Load()
    {
        lock (_gate) return (_slots.Count(s => s.Job is not null), _waiting.Count);
    }

    // When a waiting request may expect a slot: the mean generation time per round of slots ahead of it.
    TimeSpan RetryAfter() => TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling(_meanSeconds * (1 + _waiting.Count / (double)_slots.Length))));

    /// <summary>The decode loop: admit waiting requests into free slots, run one step over every busy slot, repeat.</summary>
    void Run()
    {
        try
        {
            while (true)
            {
                lock (_gate)
                {
                    while (!_disposed && _waiting.Count == 0 && _slots.All(s => s.Job is null)) Monitor.Wait(_gate);
                    if (_disposed) break;
                }
                Admit();
                Step();
            }
        }
        finally
        {
            var disposed = new ObjectDisposedException(nameof(BatchGenerator), "the generator was disposed during the request");
            lock (_gate)
            {
                foreach (Job job in _waiting) job.Done.TrySetException(disposed);
                _waiting.Clear();
            }
            foreach (Slot slot in _slots)
                if (slot.Job is Job job) End(slot, job, () => job.Done.TrySetException(disposed));
        }
    }

    /// <summary>Waiting requests, in arrival order, into free slots: the one holding the longest prefix of the prompt, else the least recently used.</summary>
    void Admit()
    {
        while (true)
        {
            Job job;
            Slot? slot;
            lock (_gate)
            {
                if (_waiting.Count == 0) return;
                job = _waiting.Peek();
                slot = job.Done.Task.IsCompleted || job.Expired ? null : _slots.Where(s => s.Job is null)
                    .OrderByDescending(s => s.Session.SharedPrefix(job.Request.PromptTokens)).ThenBy(s => s.LastUsed).FirstOrDefault();
                if (slot is null && !job.Done.Task.IsCompleted && !job.Expired) return; // every slot is busy
                _waiting.Dequeue();
            }
            if (slot is null)
            {
                if (job.Expired) job.Done.TrySetException(new TimeoutException($"the request waited its time limit of {_options.Timeout!.Value.TotalSeconds:F0} s for a free slot"));
                job.Registration.Dispose();
                continue;
            }
            try
            {
                if (!slot.Drafters.TryGetValue(job.Method, out IDrafter? drafter))
                    slot.Drafters[job.Method] = drafter = _methods[job.Method].Spawn();
                job.Decoding = new Decoding(slot.Session, drafter, Budget(job.Method), job.Request, job.OnText);
                job.Since = Stopwatch.GetTimestamp(); // its time limit now runs for its generation
                lock (_gate) slot.Job = job;
            }
            catch (Exception e)
            {
                job.Done.TrySetException(e);
                job.Registration.Dispose();
            }
        }
    }

    TreeBudget Budget(string method)
    {
        if (!_budgets.TryGetValue(method, out TreeBudget? budget))
        {
            int n = _options.MaxTreeNodes;
            bool adaptive = _options.Adaptive && _methods[method] is not NoDrafter;
            _budgets[method] = budget = new TreeBudget(n, adaptive ? _model.VerifyCostUpTo(_slots.Length * n) : null);
        }
        return budget;
    }

    /// <summary>
    /// One step of every busy slot: those cancelled or past their time limit end; the others plan their rows (the
    /// tree budget asked once per method for all the sequences that draft), one pass runs them all, each takes its
    /// results; a sequence that finishes leaves at once. A failure ends only its own sequence.
    /// </summary>
    void Step()
    {
        var busy = _slots.Where(s => s.Job is not null).ToList();
        foreach (Slot slot in busy)
        {
            Job job = slot.Job!;
            if (job.Cancellation.IsCancellationRequested) End(slot, job, () => job.Done.TrySetCanceled(job.Cancellation));
            else if (job.Expired) job.Decoding!.Stop(FinishReason.TimeLimit);
        }
        busy.RemoveAll(s => s.Job is null);
        int drafting = busy.Count(s => s.Job!.Decoding!.Drafting);
        var nodes = busy.Where(s => s.Job!.Decoding!.Drafting).Select(s => s.Job!.Method).Distinct()
            .ToDictionary(m => m, m => Budget(m).Next(drafting));

        var parts = new List<ForwardPart>();
        var inPass = new List<Slot>();
        foreach (Slot slot in busy)
        {
            Job job = slot.Job!;
            try
            {
                if (job.Decoding!.Plan(job.Decoding.Drafting ? nodes[job.Method] : 0) is ForwardPart part) { parts.Add(part); inPass.Add(slot); }
                else Finish(slot, job);
            }
            catch (Exception e) { End(slot, job, () => job.Done.TrySetException(e)); }
        }
        if (parts.Count == 0) return;

        _pass ??= _model.NewPass(_slots.Length * Math.Max(Transformer.PrefillChunk, _options.MaxTreeNodes), _features);
        _logits ??= new float[_slots.Length * _options.MaxTreeNodes * _model.Config.VocabSize]; // [logit rows, vocab]
        long start = Stopwatch.GetTimestamp();
        try { _pass.Forward(parts, _logits); }
        catch (Exception e)
        {
            foreach (Slot slot in inPass) End(slot, slot.Job!, () => slot.Job!.Done.TrySetException(e));
            return;
        }
        TimeSpan forward = Stopwatch.GetElapsedTime(start);
        int V = _model.Config.VocabSize;
        for (int i = 0, row = 0, logitRow = 0; i < parts.Count; row += parts[i].Rows, logitRow += parts[i].LogitRows, i++)
        {
            Slot slot = inPass[i];
            Job job = slot.Job!;
            try
            {
                job.Decoding!.Complete(_pass, row, _logits.AsSpan(logitRow * V, parts[i].LogitRows * V), forward);
                if (job.Decoding.Finish is not null) Finish(slot, job);
            }
            catch (OperationCanceledException) when (job.Cancellation.IsCancellationRequested) { End(slot, job, () => job.Done.TrySetCanceled(job.Cancellation)); }
            catch (Exception e) { End(slot, job, () => job.Done.TrySetException(e)); }
        }
    }

    void Finish(Slot slot, Job job)
    {
        GenerationResult result = job.Decoding!.Result();
        double seconds = (result.Stats.PrefillMs + result.Stats.DecodeMs) / 1000;
        _meanSeconds += 0.1 * (seconds - _meanSeconds);
        End(slot, job, () => job.Done.TrySetResult(result));
    }

    // Frees the slot (it keeps its cache for a later turn of the conversation), then completes the request.
    void End(Slot slot, Job job, Action complete)
    {
        lock (_gate)
        {
            slot.Job = null;
            slot.LastUsed = ++_uses;
        }
        job.Registration.Dispose();
        complete();
    }

    /// <summary>
    /// Ends every request (they fail with <see cref="ObjectDisposedException"/>) and returns once the decode loop
    /// has stopped reading the model (after the step it is in).
    /// </summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            Monitor.PulseAll(_gate);
        }
        if (Thread.CurrentThread != _loop) _loop.Join();
    }
}
