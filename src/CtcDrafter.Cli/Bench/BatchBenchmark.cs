using System.Diagnostics;
using System.Text.Json.Nodes;
using CtcDrafter.Drafters;
using CtcDrafter.Generation;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using CtcDrafter.Text;

namespace CtcDrafter.Cli.Bench;

/// <summary>
/// Concurrent streams, as a server sees them: for each method and each stream count S, S clients each send the
/// suite's next prompt as soon as their previous answer is complete, into a <see cref="BatchGenerator"/> of S slots.
/// Reports the aggregate tokens/s (all answers' tokens over the wall time), the time to first token of each request,
/// tau, the draft share (drafting runs on the decode loop, one sequence after another: the summed drafting time over
/// the wall time), and whether every answer is token for token the one-stream answer of its prompt (greedy).
/// </summary>
sealed class BatchBenchmark(LlamaModel model, IReadOnlyList<IDrafter> drafters, ChatTemplate template, int maxTokens, SamplingOptions sampling, int? fixedTree)
{
    /// <summary>One method at one stream count.</summary>
    public sealed record Run(string Method, int Streams, int Requests, int Tokens, double Seconds, double[] FirstTokenMs, double Tau, double DraftShare, bool Identical)
    {
        public double TokensPerSecond => Tokens / Seconds;
    }

    public List<Run> Measure(IReadOnlyList<BenchPrompt> prompts, IReadOnlyList<int> streams, Action<string> progress)
    {
        TextTokenizer tok = model.Tokenizer ?? throw new ModelFormatException(model.Folder, "the benchmark needs the model's tokenizer");
        int[][] ids = [.. prompts.Select(p => p.Encode(tok, template, 1, [])).Where(p => p.Length + maxTokens <= model.ContextLength)];
        if (ids.Length == 0) throw new ArgumentException("no prompt of the suite fits the context with --max-tokens");
        var runs = new List<Run>();
        foreach (IDrafter drafter in drafters)
        {
            IReadOnlyList<int>[]? alone = null;
            foreach (int s in streams.Order())
            {
                progress($"{drafter.Name}, {s} stream{(s == 1 ? "" : "s")}");
                var (run, tokens) = Once(drafter, s, ids);
                alone ??= tokens;
                runs.Add(run with { Identical = !sampling.IsGreedy || tokens.Zip(alone).All(p => p.First.SequenceEqual(p.Second)) });
            }
        }
        return runs;
    }

    (Run Run, IReadOnlyList<int>[] Tokens) Once(IDrafter drafter, int streams, int[][] ids)
    {
        using var batch = new BatchGenerator(model, [drafter.Spawn()], new BatchOptions
        {
            Parallel = streams, Queue = ids.Length, MaxTreeNodes = fixedTree ?? 32, Adaptive = fixedTree is null,
        });
        batch.GenerateAsync(new GenerationRequest(ids[0], maxTokens, sampling)).GetAwaiter().GetResult(); // warm-up: JIT, caches, the cost curve

        var results = new GenerationResult[ids.Length];
        var firstMs = new double[ids.Length];
        int next = -1;
        var wall = Stopwatch.StartNew();
        async Task Client()
        {
            for (int i; (i = Interlocked.Increment(ref next)) < ids.Length;)
            {
                long sent = Stopwatch.GetTimestamp();
                int seen = 0;
                results[i] = await batch.GenerateAsync(new GenerationRequest(ids[i], maxTokens, sampling), onText: _ =>
                {
                    if (Interlocked.Exchange(ref seen, 1) == 0) firstMs[i] = Stopwatch.GetElapsedTime(sent).TotalMilliseconds;
                });
            }
        }
        Task.WhenAll(Enumerable.Range(0, streams).Select(_ => Task.Run(Client))).GetAwaiter().GetResult();
        double seconds = wall.Elapsed.TotalSeconds;
        int tokens = results.Sum(r => r.Tokens.Count), steps = results.Sum(r => r.Stats.Steps);
        double draftShare = results.Sum(r => r.Stats.DraftMs) / 1000 / seconds;
        return (new Run(drafter.Name, streams, ids.Length, tokens, seconds, firstMs, steps == 0 ? 0 : (double)tokens / steps, draftShare, true),
            [.. results.Select(r => r.Tokens)]);
    }

    public static JsonObject Json(IEnumerable<Run> runs) => new()
    {
        ["runs"] = new JsonArray([.. runs.Select(r => (JsonNode)new JsonObject
        {
            ["method"] = r.Method, ["streams"] = r.Streams, ["requests"] = r.Requests, ["tokens"] = r.Tokens,
            ["seconds"] = Math.Round(r.Seconds, 3), ["tokensPerSecond"] = Math.Round(r.TokensPerSecond, 1), ["tau"] = Math.Round(r.Tau, 3), ["draftShare"] = Math.Round(r.DraftShare, 3),
            ["firstTokenMsMedian"] = Math.Round(Percentile(r.FirstTokenMs, 0.5), 1), ["firstTokenMsP90"] = Math.Round(Percentile(r.FirstTokenMs, 0.9), 1),
            ["identicalToOneStream"] = r.Identical,
        })]),
    };

    /// <summary>A table: per method and stream count, aggregate tokens/s and its ratio to the method's one stream and to plain decoding's one stream.</summary>
    public static string Markdown(IReadOnlyList<Run> runs)
    {
        double? vanilla = runs.FirstOrDefault(r => r.Method == "vanilla" && r.Streams == 1)?.TokensPerSecond;
        var lines = new List<string>
        {
            "| method | streams | requests | tokens | tokens/s | x own 1 stream | x vanilla 1 stream | tau | draft share | first token ms (median, p90) | identical |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        };
        foreach (Run r in runs)
        {
            double own = runs.First(o => o.Method == r.Method).TokensPerSecond;
            lines.Add($"| {r.Method} | {r.Streams} | {r.Requests} | {r.Tokens} | {r.TokensPerSecond:F1} | {r.TokensPerSecond / own:F2} | " +
                $"{(vanilla is double v ? (r.TokensPerSecond / v).ToString("F2") : "-")} | {r.Tau:F2} | {r.DraftShare:F2} | {Percentile(r.FirstTokenMs, 0.5):F0}, {Percentile(r.FirstTokenMs, 0.9):F0} | {(r.Identical ? "yes" : "NO")} |");
        }
        return string.Join('\n', lines);
    }

    static double Percentile(double[] values, double q)
    {
        if (values.Length == 0) return 0;
        double[] sorted = [.. values.Order()];
        return sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];
    }
}
