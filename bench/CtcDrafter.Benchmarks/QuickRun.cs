using System.Diagnostics;
using CtcDrafter.Kernels;

namespace CtcDrafter.Benchmarks;

/// <summary>
/// A fast console check without BenchmarkDotNet's process per case: MatMul on [5632 x 2048] from DRAM per format
/// and token count, with the rate reached and the cost relative to one token. The cases take turns call by call,
/// so that noise from other processes on the machine spreads over all of them alike.
/// </summary>
internal static class QuickRun
{
    static readonly int[] TokenCounts = [1, 2, 4, 8, 16, 64];

    public static void Run(int threads, int calls, IReadOnlyList<WeightFormat> formats, int rows = MatMulBenchmarks.Rows, int cols = MatMulBenchmarks.Cols)
    {
        WorkerPool.Configure(threads);
        Console.WriteLine($"threads {threads}, memory read bandwidth {MemoryBandwidth.MeasureGBs():F1} GB/s");
        Console.WriteLine($"W [{rows} x {cols}]");
        var matrices = formats.Select(f => new WeightMatrices(f, rows, cols)).ToArray();
        var inputs = TokenCounts.Select(t => WeightMatrices.RandomValues(new Random(t), t * cols)).ToArray();
        var output = new float[TokenCounts.Max() * rows];
        var ms = new double[formats.Count, TokenCounts.Length, calls];
        for (int call = -calls / 4; call < calls; call++)
            for (int f = 0; f < formats.Count; f++)
                for (int t = 0; t < TokenCounts.Length; t++)
                {
                    WeightMatrix m = matrices[f].Next();
                    long start = Stopwatch.GetTimestamp();
                    m.MatMul(inputs[t], output, TokenCounts[t]);
                    if (call >= 0) ms[f, t, call] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }

        Console.WriteLine("format  T   median ms   best ms   GB/s   GFLOP/s   x T=1");
        for (int f = 0; f < formats.Count; f++)
        {
            double oneToken = 0;
            for (int t = 0; t < TokenCounts.Length; t++)
            {
                double[] sorted = Enumerable.Range(0, calls).Select(i => ms[f, t, i]).Order().ToArray();
                double median = sorted[calls / 2];
                if (t == 0) oneToken = median;
                int tokens = TokenCounts[t];
                Console.WriteLine($"{formats[f],-6} {tokens,2}   {median,9:F3}   {sorted[0],7:F3}   {matrices[f].Bytes / median / 1e6,5:F1}   " +
                    $"{2.0 * rows * cols * tokens / median / 1e6,7:F1}   {median / oneToken,5:F2}");
            }
            matrices[f].Dispose();
        }
    }
}
