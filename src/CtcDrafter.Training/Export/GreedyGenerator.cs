using CtcDrafter.Training.Model;
using CtcDrafter.Training.Tokenizer;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Export;

/// <summary>Plain greedy decoding by recomputing the whole sequence each step: for model-card samples only.</summary>
internal static class GreedyGenerator
{
    /// <summary>The new tokens after <paramref name="prompt"/> (stops after EOS or at the context length).</summary>
    public static List<int> Generate(LlamaForCausalLM model, IReadOnlyList<int> prompt, int maxNewTokens)
    {
        var tokens = prompt.ToList();
        var generated = new List<int>();
        bool wasTraining = model.training;
        model.eval();
        using (no_grad())
            while (generated.Count < maxNewTokens && tokens.Count < model.Config.MaxPositionEmbeddings)
            {
                using var scope = NewDisposeScope();
                var (logits, _) = model.forward(tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Count]));
                int next = (int)logits[0, -1].argmax().item<long>();
                tokens.Add(next);
                generated.Add(next);
                if (next == TextTokenizer.EosId) break;
            }
        model.train(wasTraining);
        return generated;
    }
}
