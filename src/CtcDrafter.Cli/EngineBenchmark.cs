using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Cli;

/// <summary>
/// The engine's figures, each from the median of repeated timings after warm-up: decode time and the memory
/// bandwidth, in pairs (a read of the probe buffer, two one-token forwards, a timed one: a shared machine's bandwidth
/// moves by half between minutes, so the fraction is the median of the pairs' fractions), the cost of verifying T
/// tree tokens relative to one (the sizes timed in interleaved rounds, each cost the median of its per-round ratios),
/// and prefill speed.
/// </summary>
static class EngineBenchmark
{
    public sealed record Result(string Model, string Dtype, int Threads, int Context, double BandwidthGBs, long WeightBytes,
        double DecodeMsPerToken, double BandwidthFraction, SortedDictionary<string, double> VerifyCost,
        double PrefillTokensPerSecond, double PrefillGflops);

    public static Result Run(LlamaModel m, int context, int repeats)
    {
        using var probe = new MemoryBandwidth();
        var t = m.NewTransformer(maxTokens: 128);
        if (context + 128 >= t.Cache.Capacity) throw new ArgumentException($"--context {context} leaves no room in a context of {t.Cache.Capacity}");
        var logits = new float[128 * m.Config.VocabSize];
        var rng = new Random(7);
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => rng.Next(m.Config.VocabSize)).ToArray();
        t.Prefill(Tokens(context), logits.AsSpan(0, m.Config.VocabSize));

        double TimeForward(int T, bool tree) => ForwardTiming.MedianMs(t, T, repeats, tree, logits);
        var warm = System.Diagnostics.Stopwatch.StartNew();
        while (warm.Elapsed.TotalSeconds < 1) foreach (int T in new[] { 1, 4, 16 }) TimeForward(T, tree: true);

        var times = ForwardTiming.Rounds(t, [1, 2, 4, 8, 16], repeats, tree: true, logits);
        long bytes = m.DecodeWeightBytes;
        var pairs = Enumerable.Range(0, Math.Max(1, repeats))
            .Select(_ => (GBs: probe.ReadGBs(), Ms: ForwardTiming.Rounds(t, [1], 1, tree: true, logits)[1][0])).ToArray();
        double decode = ForwardTiming.Median(pairs.Select(p => p.Ms)), bandwidth = ForwardTiming.Median(pairs.Select(p => p.GBs));
        double fraction = ForwardTiming.Median(pairs.Select(p => bytes / (p.Ms / 1000) / (p.GBs * 1e9)));
        var cost = new SortedDictionary<string, double>(Comparer<string>.Create((a, b) => int.Parse(a).CompareTo(int.Parse(b))));
        foreach (int T in times.Keys) cost[T.ToString()] = Math.Round(ForwardTiming.MedianRatio(times, T), 3);
        double prefillMs = TimeForward(128, tree: false);
        // Matmul work per token: every parameter but the embedding table and the LM head (one row of logits only).
        double flops = 2.0 * (m.Config.ParameterCount - (long)m.Config.VocabSize * m.Config.HiddenSize * (m.Config.TieWordEmbeddings ? 1 : 2)) * 128;
        return new Result(m.Folder, m.Options.Format.ToString().ToLowerInvariant(), WorkerPool.Shared.Threads, context,
            Math.Round(bandwidth, 2), bytes, Math.Round(decode, 4), Math.Round(fraction, 3),
            cost, Math.Round(128 / (prefillMs / 1000), 1), Math.Round(flops / (prefillMs / 1000) / 1e9, 2));
    }
}
