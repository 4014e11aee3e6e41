using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace CtcDrafter.Kernels;

/// <summary>The work of one <see cref="WorkerPool.For"/> call: processes the indices [start, end).</summary>
internal interface IChunkBody
{
    void Run(int start, int end);
}

/// <summary>
/// The parallel-for of every kernel: persistent background threads plus the calling thread, each taking one
/// contiguous chunk of [0, count). A decode step makes about a hundred calls of 50-1500 us each, so workers
/// spin on a generation counter for a while after each call before they block, and a call allocates nothing.
/// </summary>
internal sealed unsafe class WorkerPool : IDisposable
{
    // One call at a time over all pools: the body lives in a static slot per body type while it runs.
    static readonly Lock s_dispatch = new();
    static WorkerPool s_shared = new(Environment.ProcessorCount);

    [ThreadStatic] static bool t_insideFor;

    /// <summary>The pool the kernels use.</summary>
    public static WorkerPool Shared => Volatile.Read(ref s_shared);

    /// <summary>Replaces <see cref="Shared"/> by a pool of <paramref name="threads"/> threads (the caller included).</summary>
    public static void Configure(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        lock (s_dispatch)
        {
            if (s_shared.Threads == threads) return;
            WorkerPool old = s_shared;
            Volatile.Write(ref s_shared, new WorkerPool(threads));
            old.Dispose();
        }
    }

    /// <summary>How long a waiting thread spins on pause instructions alone before it starts to yield its core.</summary>
    static readonly long PauseTicks = Stopwatch.Frequency / 10_000;

    /// <summary>Pause iterations between two looks at the counter.</summary>
    const int PauseIterations = 16;

    /// <summary>How long an idle worker spins before it blocks.</summary>
    public static TimeSpan SpinTime { get; set; } = TimeSpan.FromMilliseconds(1);

    public int Threads { get; }

    readonly object _gate = new();
    int _generation;
    int _sleepers;
    int _pending;
    bool _disposed;

    // The current call, published before _generation is incremented.
    delegate*<int, int, void> _run;
    int _count, _grain, _parts;
    Exception? _error;

    public WorkerPool(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        Threads = threads;
        for (int i = 1; i < threads; i++)
        {
            int part = i;
            var thread = new Thread(() => WorkerLoop(part)) { IsBackground = true, Name = $"CtcDrafter worker {i}" };
            thread.Start();
        }
    }

    /// <summary>
    /// Runs body.Run over [0, count) split into at most <see cref="Threads"/> contiguous chunks whose boundaries
    /// are multiples of <paramref name="grain"/>; the calling thread runs the first chunk. The first exception
    /// thrown by a chunk is rethrown here after every chunk has ended. A call from inside a body runs inline, and a
    /// call on a disposed pool runs on <see cref="Shared"/> (inline if that is the disposed one).
    /// </summary>
    public void For<TBody>(int count, int grain, ref TBody body) where TBody : struct, IChunkBody
    {
        if (count <= 0) return;
        grain = Math.Max(1, grain);
        int units = (int)(((long)count + grain - 1) / grain);
        int parts = Math.Min(Threads, units);
        if (parts == 1 || t_insideFor)
        {
            body.Run(0, count);
            return;
        }
        if (TryDispatch(count, grain, parts, ref body)) return;
        WorkerPool current = Shared;
        if (current != this) current.For(count, grain, ref body);
        else body.Run(0, count);
    }

    bool TryDispatch<TBody>(int count, int grain, int parts, ref TBody body) where TBody : struct, IChunkBody
    {
        lock (s_dispatch)
        {
            if (_disposed) return false;
            Slot<TBody>.Body = body;
            _run = &Slot<TBody>.Run;
            _count = count;
            _grain = grain;
            _parts = parts;
            _error = null;
            _pending = Threads - 1;
            Interlocked.Increment(ref _generation);
            if (Volatile.Read(ref _sleepers) > 0)
                lock (_gate) Monitor.PulseAll(_gate);

            t_insideFor = true;
            RunPart(0);
            t_insideFor = false;

            long pauseUntil = Stopwatch.GetTimestamp() + PauseTicks;
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) != 0)
                if (Stopwatch.GetTimestamp() < pauseUntil) Thread.SpinWait(PauseIterations);
                else spin.SpinOnce(sleep1Threshold: -1);

            Slot<TBody>.Body = default;
            Exception? error = _error;
            _error = null;
            if (error != null) ExceptionDispatchInfo.Throw(error);
            return true;
        }
    }

    void RunPart(int part)
    {
        if (part >= _parts) return;
        int units = (int)(((long)_count + _grain - 1) / _grain);
        int start = (int)Math.Min(_count, (long)units * part / _parts * _grain);
        int end = (int)Math.Min(_count, (long)units * (part + 1) / _parts * _grain);
        if (start >= end) return;
        try
        {
            _run(start, end);
        }
        catch (Exception e)
        {
            Interlocked.CompareExchange(ref _error, e, null);
        }
    }

    void WorkerLoop(int part)
    {
        t_insideFor = true;
        int seen = 0;
        while (true)
        {
            seen = WaitForGeneration(seen);
            if (Volatile.Read(ref _disposed)) return;
            RunPart(part);
            Interlocked.Decrement(ref _pending);
        }
    }

    int WaitForGeneration(int seen)
    {
        // First pause instructions only (the next call of a forward pass comes within microseconds, and a worker
        // inside a sched_yield notices it late), then SpinOnce, which yields, so that a thread of ours (or anyone's)
        // waiting for this core gets it.
        long now = Stopwatch.GetTimestamp(), pauseUntil = now + PauseTicks;
        long spinUntil = now + (long)(SpinTime.TotalSeconds * Stopwatch.Frequency);
        var spin = new SpinWait();
        while (true)
        {
            int g = Volatile.Read(ref _generation);
            if (g != seen) return g;
            now = Stopwatch.GetTimestamp();
            if (now > spinUntil) break;
            if (now < pauseUntil) Thread.SpinWait(PauseIterations);
            else spin.SpinOnce(sleep1Threshold: -1);
        }

        // _sleepers and _generation are each written with a full fence before the other is read, so either the
        // dispatcher sees this sleeper and pulses, or this worker sees the new generation and does not wait.
        lock (_gate)
        {
            Interlocked.Increment(ref _sleepers);
            while (Volatile.Read(ref _generation) == seen) Monitor.Wait(_gate);
            Interlocked.Decrement(ref _sleepers);
        }
        return Volatile.Read(ref _generation);
    }

    /// <summary>Ends the worker threads (after the call in flight, if any); later calls run on <see cref="Shared"/>.</summary>
    public void Dispose()
    {
        lock (s_dispatch)
        {
            if (_disposed) return;
            Volatile.Write(ref _disposed, true);
            Interlocked.Increment(ref _generation);
            lock (_gate) Monitor.PulseAll(_gate);
        }
    }

    static class Slot<TBody> where TBody : struct, IChunkBody
    {
        public static TBody Body;
        public static void Run(int start, int end) => Body.Run(start, end);
    }
}
