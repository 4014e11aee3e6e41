using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CtcDrafter.Kernels;

/// <summary>
/// The machine's memory read bandwidth, the speed limit of memory-bound decoding: a buffer far larger than the
/// caches, read sequentially by every thread of <see cref="WorkerPool.Shared"/>. Keep one to time reads between
/// other timings (a shared machine's bandwidth moves by half between minutes).
/// </summary>
internal sealed unsafe class MemoryBandwidth : IDisposable
{
    const int Page = 4096;

    static float s_sink;

    readonly NativeBuffer _buffer;
    readonly int _pages;

    /// <summary>Allocates and touches a buffer of <paramref name="bytes"/>, then reads it once (the first read of a process runs slow).</summary>
    public MemoryBandwidth(long bytes = 512L << 20)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, Page);
        _pages = (int)Math.Min(int.MaxValue, bytes / Page);
        _buffer = new NativeBuffer((long)_pages * Page);
        NativeMemory.Fill(_buffer.Pointer, (nuint)_buffer.Bytes, 1);
        ReadGBs();
    }

    /// <summary>One read of the whole buffer: its rate in GB/s (1e9 bytes/s).</summary>
    public double ReadGBs()
    {
        var job = new ReadJob { Data = _buffer.Pointer };
        long start = Stopwatch.GetTimestamp();
        WorkerPool.Shared.For(_pages, 1, ref job);
        return _buffer.Bytes / Stopwatch.GetElapsedTime(start).TotalSeconds / 1e9;
    }

    /// <summary>The best of <paramref name="repeats"/> reads of a buffer of <paramref name="bytes"/>, in GB/s.</summary>
    public static double MeasureGBs(long bytes = 512L << 20, int repeats = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        using var probe = new MemoryBandwidth(bytes);
        double best = 0;
        for (int i = 0; i < repeats; i++) best = Math.Max(best, probe.ReadGBs());
        return best;
    }

    public void Dispose() => _buffer.Dispose();

    struct ReadJob : IChunkBody
    {
        public byte* Data;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int start, int end)
        {
            var p = (Vector256<float>*)(Data + (long)start * Page);
            var stop = (Vector256<float>*)(Data + (long)end * Page);
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            for (; p < stop; p += 4)
            {
                a0 += p[0];
                a1 += p[1];
                a2 += p[2];
                a3 += p[3];
            }
            s_sink = Vector256.Sum(a0 + a1 + a2 + a3);
        }
    }
}
