using System.Diagnostics;
using System.Text.Json;
using CtcDrafter.Generation;
using CtcDrafter.Kernels;
using CtcDrafter.Model;
using CtcDrafter.Sampling;
using LLama;
using LLama.Common;
using LLama.Native;

namespace CtcDrafter.Benchmarks;

/// <summary>
/// The engine and llama.cpp (LLamaSharp 0.30, CPU backend) on the same GGUF file, the same token ids and the same
/// threads, measured in turns: decode (one token at a committed context), the cost of T tokens in one forward
/// relative to one (the engine: a binary verification tree; llama.cpp: a causal chain, every row's logits in both),
/// prefill of 128 tokens, and greedy agreement. Each figure is the median over the rounds of the medians of its
/// repeats.
/// </summary>
/// <remarks>dotnet run -c Release --project bench/CtcDrafter.Benchmarks -- llamacpp --model FILE.gguf [--threads N]
/// [--context 128] [--repeats 9] [--rounds 3] [--greedy 32]; prints JSON.</remarks>
internal static class LlamaCppComparison
{
    static readonly int[] TokenCounts = [1, 2, 4, 8, 16];
    const int PrefillTokens = 128;

    public static int Run(string[] args)
    {
        string? Arg(string name) => Array.IndexOf(args, name) is int i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        string path = Arg("--model") ?? throw new ArgumentException("--model FILE.gguf is required");
        int threads = int.Parse(Arg("--threads") ?? Environment.ProcessorCount.ToString());
        int context = int.Parse(Arg("--context") ?? "128"), repeats = int.Parse(Arg("--repeats") ?? "9");
        int rounds = int.Parse(Arg("--rounds") ?? "3"), greedy = int.Parse(Arg("--greedy") ?? "32");

        WeightFormat format = GgufModel.NativeFormat(path);
        using var engine = LlamaModel.Load(path, new EngineOptions(format, threads));
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)(context + PrefillTokens + 64), Threads = threads, BatchThreads = threads,
            BatchSize = 512, UBatchSize = 512, GpuLayerCount = 0,
        };
        using var weights = LLamaWeights.LoadFromFile(parameters);
        using var llama = weights.CreateContext(parameters);
        int vocab = engine.Config.VocabSize;
        var rng = new Random(7);
        int[] prompt = [.. Enumerable.Range(0, context).Select(_ => 3 + rng.Next(vocab - 3))];

        var ours = new Timer(engine, prompt, repeats);
        var theirs = new LlamaTimer(llama.NativeHandle, prompt, repeats);
        var engineMs = new Dictionary<string, List<double>>();
        var llamaMs = new Dictionary<string, List<double>>();
        void Add(Dictionary<string, List<double>> d, string k, double v) => (d.TryGetValue(k, out var l) ? l : d[k] = []).Add(v);
        ours.Forward(4); theirs.Forward(4); // warm-up
        for (int round = 0; round < rounds; round++)
        {
            foreach (int T in TokenCounts)
            {
                Add(engineMs, $"T{T}", ours.Forward(T));
                Add(llamaMs, $"T{T}", theirs.Forward(T));
            }
            Add(engineMs, "prefill", ours.Prefill());
            Add(llamaMs, "prefill", theirs.Prefill());
        }
        static double Median(List<double> v) => v.Order().ElementAt(v.Count / 2);

        // Greedy agreement from the same prompt ids.
        int[] start = prompt[..16];
        IReadOnlyList<int> a = new Generator(engine).Generate(new GenerationRequest(start, greedy, SamplingOptions.Greedy)).Tokens;
        int[] b = theirs.Greedy(start, a.Count);
        int firstDifference = Enumerable.Range(0, a.Count).FirstOrDefault(i => a[i] != b[i], a.Count);

        var result = new
        {
            model = path, format = format.ToString().ToLowerInvariant(), threads, context, machine = MachineName(),
            engine = Figures(engineMs), llama_cpp = Figures(llamaMs),
            decode_ratio = Math.Round(Median(llamaMs["T1"]) / Median(engineMs["T1"]), 3),
            prefill_ratio = Math.Round(Median(llamaMs["prefill"]) / Median(engineMs["prefill"]), 3),
            greedy = new { tokens = a.Count, identical_prefix = firstDifference, equal = Enumerable.Range(0, a.Count).Count(i => a[i] == b[i]) },
        };
        object Figures(Dictionary<string, List<double>> ms) => new
        {
            decode_ms = Math.Round(Median(ms["T1"]), 3),
            decode_tokens_per_s = Math.Round(1000 / Median(ms["T1"]), 2),
            verify_cost = TokenCounts.ToDictionary(T => T.ToString(), T => Math.Round(Median(ms[$"T{T}"]) / Median(ms["T1"]), 3)),
            prefill_tokens_per_s = Math.Round(PrefillTokens / (Median(ms["prefill"]) / 1000), 1),
        };
        Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    internal static string MachineName()
    {
        string? line = File.Exists("/proc/cpuinfo") ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name")) : null;
        return line?.Split(':', 2)[1].Trim() ?? "unknown";
    }

    /// <summary>The engine at a committed context: the median of forwards of T new tokens that are never committed.</summary>
    sealed class Timer
    {
        readonly Transformer _t, _empty;
        readonly float[] _logits;
        readonly int _repeats;

        public Timer(LlamaModel m, int[] prompt, int repeats)
        {
            _t = m.NewTransformer(maxTokens: PrefillTokens);
            _empty = m.NewTransformer(maxTokens: PrefillTokens);
            _logits = new float[PrefillTokens * m.Config.VocabSize];
            _repeats = repeats;
            _t.Prefill(prompt, _logits.AsSpan(0, m.Config.VocabSize));
            _empty.Prefill(prompt, _logits.AsSpan(0, m.Config.VocabSize));
        }

        public double Forward(int T) => ForwardTiming.MedianMs(_t, T, _repeats, tree: true, _logits);

        public double Prefill() => ForwardTiming.MedianMs(_empty, PrefillTokens, _repeats, tree: false, _logits);
    }

    /// <summary>llama.cpp at the same committed context: a chain of T tokens decoded, then removed from its cache.</summary>
    sealed class LlamaTimer
    {
        readonly SafeLLamaContextHandle _ctx;
        readonly int _context, _repeats;
        readonly LLamaBatch _batch = new();

        public LlamaTimer(SafeLLamaContextHandle ctx, int[] prompt, int repeats)
        {
            _ctx = ctx;
            _context = prompt.Length;
            _repeats = repeats;
            ctx.MemoryClear(true);
            Decode(prompt, 0, allLogits: false);
        }

        void Decode(ReadOnlySpan<int> ids, int start, bool allLogits)
        {
            _batch.Clear();
            for (int i = 0; i < ids.Length; i++) _batch.Add((LLamaToken)ids[i], start + i, LLamaSeqId.Zero, allLogits || i == ids.Length - 1);
            DecodeResult r = _ctx.Decode(_batch);
            if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama.cpp decode failed: {r}");
        }

        double Median(int tokens, bool allLogits)
        {
            int[] ids = [.. Enumerable.Range(0, tokens).Select(i => 3 + (i * 7919) % 1000)];
            var times = new double[_repeats];
            for (int r = -2; r < _repeats; r++)
            {
                long start = Stopwatch.GetTimestamp();
                Decode(ids, _context, allLogits);
                if (r >= 0) times[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                _ctx.MemorySequenceRemove(LLamaSeqId.Zero, _context, -1);
            }
            Array.Sort(times);
            return times[times.Length / 2];
        }

        public double Forward(int T) => Median(T, allLogits: true);

        public double Prefill() => Median(PrefillTokens, allLogits: false);

        public int[] Greedy(int[] prompt, int count)
        {
            _ctx.MemoryClear(true);
            Decode(prompt, 0, allLogits: false);
            var output = new int[count];
            for (int i = 0; i < count; i++)
            {
                Span<float> logits = _ctx.GetLogitsIth(_batch.TokenCount - 1);
                int best = 0;
                for (int v = 1; v < logits.Length; v++) if (logits[v] > logits[best]) best = v;
                output[i] = best;
                Decode([best], prompt.Length + i, allLogits: false);
            }
            _ctx.MemoryClear(true);
            Decode(prompt, 0, allLogits: false);
            return output;
        }
    }
}
