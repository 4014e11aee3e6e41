using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Training.Tests;

/// <summary>Small random base models in Hugging Face folders, for the distillation and draft tests.</summary>
internal static class TinyBase
{
    /// <summary>Writes a random base model (hidden 64, 2 layers, GQA) of <paramref name="vocab"/> tokens; with the
    /// project's tokenizer (4096 tokens) when <paramref name="tokenizer"/> is set, as distillation needs.</summary>
    public static string Write(string folder, int vocab = 4096, bool tokenizer = true, ulong seed = 1)
    {
        RandomModel.Write(folder, RandomModel.Config(hidden: 64, ffn: 96, layers: 2, heads: 4, kvHeads: 2, vocab: vocab, context: 256), seed: seed);
        if (tokenizer) File.Copy(TestPaths.Tokenizer, Path.Combine(folder, "tokenizer.model"));
        return folder;
    }

    public static LlamaModel Load(string folder) => LlamaModel.Load(folder, new EngineOptions(WeightFormat.F32));
}
