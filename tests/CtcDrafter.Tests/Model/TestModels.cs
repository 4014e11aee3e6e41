using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Tests.Model;

/// <summary>Small generated model folders and helpers to run them.</summary>
static class TestModels
{
    public static ModelConfig Small(bool tied = false, int kvHeads = 2) =>
        RandomModel.Config(hidden: 64, ffn: 96, layers: 2, heads: 4, kvHeads: kvHeads, vocab: 97, context: 256, tied: tied);

    public static string Write(TempDir dir, ModelConfig c, string fileDtype = "F32", int shards = 1, ulong seed = 1, string name = "model")
    {
        string path = dir[name];
        RandomModel.Write(path, c, fileDtype, shards, seed);
        return path;
    }

    public static LlamaModel Load(string folder, WeightFormat format = WeightFormat.F32) =>
        LlamaModel.Load(folder, new EngineOptions(format));

    /// <summary>Logits of every prompt position through the engine's causal prefill: [n][vocab].</summary>
    public static float[][] PrefillLogits(LlamaModel m, int[] tokens)
    {
        Transformer t = m.NewTransformer();
        int n = tokens.Length, V = m.Config.VocabSize;
        var logits = new float[n * V];
        t.Forward(tokens, Enumerable.Range(0, n).ToArray(), Enumerable.Range(-1, n).ToArray(), Enumerable.Range(0, n).ToArray(), logits);
        return Enumerable.Range(0, n).Select(i => logits.AsSpan(i * V, V).ToArray()).ToArray();
    }

    public static int[] RandomTokens(Random rng, int n, int vocab) => Enumerable.Range(0, n).Select(_ => rng.Next(vocab)).ToArray();

    public static double MaxAbsDiff(float[] a, double[] b) => a.Select((v, i) => Math.Abs(v - b[i])).Max();

    public static double MaxAbsDiff(float[] a, float[] b) => a.Select((v, i) => Math.Abs(v - b[i])).Max();
}
