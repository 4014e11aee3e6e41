using CtcDrafter.Kernels;

namespace CtcDrafter.Tests.Kernels;

public class WorkerPoolTests
{
    struct CountBody : IChunkBody
    {
        public int[] Hits;
        public int Grain;
        public int Count;

        public readonly void Run(int start, int end)
        {
            if (start % Grain != 0 && start != Count) throw new InvalidOperationException($"chunk start {start} is not a multiple of {Grain}");
            for (int i = start; i < end; i++) Interlocked.Increment(ref Hits[i]);
        }
    }

    struct ThrowBody : IChunkBody
    {
        public int ThrowAt;

        public readonly void Run(int start, int end)
        {
            if (start <= ThrowAt && ThrowAt < end) throw new InvalidOperationException("boom " + ThrowAt);
        }
    }

    struct NestedBody : IChunkBody
    {
        public WorkerPool Pool;
        public int[] Hits;

        public readonly void Run(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                var inner = new CountBody { Hits = Hits, Grain = 1, Count = Hits.Length };
                Pool.For(1, 1, ref inner);
            }
        }
    }

    [Fact]
    public void RunsEveryIndexExactlyOnce()
    {
        int[] counts = [0, 1, 2, 3, 5, 7, 8, 16, 31, 100, 1000, 4097];
        foreach (int threads in new[] { 1, 2, 3, 4 })
        {
            using var pool = new WorkerPool(threads);
            foreach (int count in counts)
                foreach (int grain in new[] { 1, 2, 4, 7 })
                    for (int repeat = 0; repeat < 3; repeat++)
                    {
                        var body = new CountBody { Hits = new int[count], Grain = grain, Count = count };
                        pool.For(count, grain, ref body);
                        Assert.All(body.Hits, h => Assert.Equal(1, h));
                    }
        }
    }

    [Fact]
    public void PropagatesTheExceptionOfAnyChunkAndKeepsWorking()
    {
        using var pool = new WorkerPool(3);
        foreach (int at in new[] { 0, 50, 99 })
        {
            var body = new ThrowBody { ThrowAt = at };
            var e = Assert.Throws<InvalidOperationException>(() => pool.For(100, 1, ref body));
            Assert.Equal("boom " + at, e.Message);
        }
        var ok = new CountBody { Hits = new int[100], Grain = 1, Count = 100 };
        pool.For(100, 1, ref ok);
        Assert.All(ok.Hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void NestedCallsRunInline()
    {
        using var pool = new WorkerPool(2);
        var body = new NestedBody { Pool = pool, Hits = new int[1] };
        pool.For(10, 1, ref body);
        Assert.Equal(10, body.Hits[0]);
    }

    [Fact]
    public void WorkersWakeAfterBlocking()
    {
        using var pool = new WorkerPool(2);
        TimeSpan spin = WorkerPool.SpinTime;
        var body = new CountBody { Hits = new int[64], Grain = 1, Count = 64 };
        pool.For(64, 1, ref body);
        Thread.Sleep(20); // past the spin time: the worker blocks
        pool.For(64, 1, ref body);
        Assert.All(body.Hits, h => Assert.Equal(2, h));
        Assert.True(spin < TimeSpan.FromMilliseconds(20));
    }

    [Fact]
    public void ConfigureReplacesTheSharedPool()
    {
        try
        {
            foreach (int threads in new[] { 1, 3 })
            {
                WorkerPool.Configure(threads);
                Assert.Equal(threads, WorkerPool.Shared.Threads);
                var body = new CountBody { Hits = new int[50], Grain = 1, Count = 50 };
                WorkerPool.Shared.For(50, 1, ref body);
                Assert.All(body.Hits, h => Assert.Equal(1, h));
            }
        }
        finally
        {
            WorkerPool.Configure(Environment.ProcessorCount);
        }
    }

    [Fact]
    public void ADisposedPoolStillRunsEveryIndex()
    {
        var pool = new WorkerPool(2);
        pool.Dispose();
        var body = new CountBody { Hits = new int[100], Grain = 1, Count = 100 };
        pool.For(100, 1, ref body);
        Assert.All(body.Hits, h => Assert.Equal(1, h));
    }
}
