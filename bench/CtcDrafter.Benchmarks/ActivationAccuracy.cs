using System.Text.Json;
using CtcDrafter.Generation;
using CtcDrafter.Kernels;
using CtcDrafter.Model;
using CtcDrafter.Sampling;

namespace CtcDrafter.Benchmarks;

/// <summary>
/// What quantizing the activations costs in accuracy: the engine's quantized weights computed on int8 activations
/// (the kernels every T uses) against the same weights on fp32 activations (the portable reference path), over
/// random prompts. Each prompt is decoded greedily by the engine, then both paths score that whole sequence in one
/// causal pass; at every generated position the logits are compared (max and mean absolute difference) and their
/// argmaxes, so "greedy agreement" is the share of positions where the fp32-activation path would pick the same
/// next token, and a prompt agrees when every position does (its own greedy output would then be the same).
/// </summary>
/// <remarks>dotnet run -c Release --project bench/CtcDrafter.Benchmarks -- accuracy --model PATH [--dtype q8|q4]
/// [--prompts 20] [--prompt-tokens 8] [--tokens 16] [--threads N]; prints JSON.</remarks>
internal static class ActivationAccuracy
{
    public static int Run(string[] args)
    {
        string? Arg(string name) => Array.IndexOf(args, name) is int i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        string path = Arg("--model") ?? throw new ArgumentException("--model PATH is required");
        int prompts = int.Parse(Arg("--prompts") ?? "20"), promptTokens = int.Parse(Arg("--prompt-tokens") ?? "8");
        int tokens = int.Parse(Arg("--tokens") ?? "16"), threads = int.Parse(Arg("--threads") ?? Environment.ProcessorCount.ToString());
        WeightFormat format = Arg("--dtype") switch
        {
            null => path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase) ? GgufModel.NativeFormat(path) : WeightFormat.Q8,
            "q8" => WeightFormat.Q8, "q4" => WeightFormat.Q4,
            var d => throw new ArgumentException($"--dtype {d}: q8 or q4 (the formats computed on int8 activations)"),
        };
        using var model = LlamaModel.Load(path, new EngineOptions(format, threads));
        int V = model.Config.VocabSize;
        var floatActivations = new Transformer(FloatActivations.Of(model.Weights.Stack), model.Config, model.ContextLength, Transformer.PrefillChunk);

        double maxDiff = 0, sumDiff = 0;
        long values = 0;
        int positions = 0, agreeing = 0, promptsAgreeing = 0;
        for (int p = 0; p < prompts; p++)
        {
            var rng = new Random(p);
            int[] prompt = Enumerable.Range(0, promptTokens).Select(_ => rng.Next(V)).ToArray();
            GenerationResult greedy = new Generator(model).Generate(new GenerationRequest(prompt, tokens, SamplingOptions.Greedy));
            int[] sequence = [.. prompt, .. greedy.Tokens];
            float[] quantized = model.SequenceLogits(sequence);
            var reference = new float[sequence.Length * V];
            floatActivations.Cache.Truncate(0);
            floatActivations.Prefill(sequence, reference, allLogits: true);
            bool all = true;
            for (int i = prompt.Length - 1; i < sequence.Length - 1; i++)
            {
                ReadOnlySpan<float> a = quantized.AsSpan(i * V, V), b = reference.AsSpan(i * V, V);
                for (int v = 0; v < V; v++)
                {
                    double d = Math.Abs(a[v] - b[v]);
                    maxDiff = Math.Max(maxDiff, d);
                    sumDiff += d;
                }
                values += V;
                positions++;
                bool same = ArgMax(a) == ArgMax(b);
                agreeing += same ? 1 : 0;
                all &= same;
            }
            promptsAgreeing += all ? 1 : 0;
        }
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            model = path, format = format.ToString().ToLowerInvariant(), threads, machine = LlamaCppComparison.MachineName(), prompts, promptTokens, tokens,
            logits_max_abs_diff = Math.Round(maxDiff, 5), logits_mean_abs_diff = Math.Round(sumDiff / values, 6),
            greedy_positions = positions, greedy_agreeing = agreeing, prompts_agreeing = promptsAgreeing,
        }, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    /// <summary>A weight matrix computed by its portable path: rows widened to fp32 and dotted with fp32 activations.</summary>
    sealed class FloatActivations(WeightMatrix inner) : WeightMatrix(inner.Rows, inner.Cols)
    {
        public override WeightFormat Format => inner.Format;
        public override long Bytes => inner.Bytes;
        public override void MatMul(ReadOnlySpan<float> x, Span<float> y, int tokens) => inner.MatMulPortable(x, y, tokens);
        public override void ReadRow(int r, Span<float> dst) => inner.ReadRow(r, dst);

        public static DecoderStack Of(DecoderStack s) => new(s.Embedding, [.. s.Layers.Select(Layer)], s.FinalNorm,
            s.LmHead is null ? null : new FloatActivations(s.LmHead));

        static LayerWeights Layer(LayerWeights l) => new()
        {
            AttnNorm = l.AttnNorm, Wq = new FloatActivations(l.Wq), Bq = l.Bq, Bk = l.Bk, Bv = l.Bv,
            Wk = new FloatActivations(l.Wk), Wv = new FloatActivations(l.Wv), Wo = new FloatActivations(l.Wo),
            MlpNorm = l.MlpNorm, Gate = new FloatActivations(l.Gate), Up = new FloatActivations(l.Up), Down = new FloatActivations(l.Down),
        };
    }
}
