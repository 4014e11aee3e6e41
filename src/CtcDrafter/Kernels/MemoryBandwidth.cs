using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CtcDrafter.Kernels;

/// <summary>The machine's memory read bandwidth, the speed limit of memory-bound decoding.</summary>
internal static unsafe class MemoryBandwidth
{
    const int Page = 4096;

    static float s_sink;

    /// <summary>
    /// Reads a buffer of <paramref name="bytes"/> (far larger than the caches) sequentially with every thread of
    /// <see cref="WorkerPool.Shared"/>, <paramref name="repeats"/> times, and returns the best rate in GB/s (1e9 bytes/s).
    /// </summary>
    public static double MeasureGBs(long bytes = 512L << 20, int repeats = 5)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytes, Page);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeats, 1);
        int pages = (int)Math.Min(int.MaxValue, bytes / Page);
        using var buffer = new NativeBuffer((long)pages * Page);
        NativeMemory.Fill(buffer.Pointer, (nuint)buffer.Bytes, 1);
        var job = new ReadJob { Data = buffer.Pointer };
        double best = 0;
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            WorkerPool.Shared.For(pages, 1, ref job);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            best = Math.Max(best, buffer.Bytes / seconds / 1e9);
        }
        return best;
    }

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
