using System.Text;
using CtcDrafter.Training.Data;
using CtcDrafter.Training.Model;
using CtcDrafter.Training.Pretraining;

namespace CtcDrafter.Training.Export;

/// <summary>The MODEL_CARD.md of an exported model: architecture, corpus, training figures and greedy samples.</summary>
internal static class ModelCard
{
    public static string Render(string name, LlamaConfig c, TrainingState state, IReadOnlyList<SourceStatistics> corpus,
        IReadOnlyList<(string Prompt, string Output)> samples, int threads)
    {
        var config = state.Config;
        long trainTokens = corpus.Sum(s => s.TrainTokens);
        var recent = state.TrainLosses.TakeLast(Math.Min(100, state.TrainLosses.Count)).ToList();
        var card = new StringBuilder();
        card.AppendLine($"# {name}").AppendLine();
        card.AppendLine("A LLaMA-architecture base model trained from scratch by CtcDrafter (`ctcdrafter-train pretrain`, " +
            "TorchSharp, float32 on CPU). Hugging Face `LlamaForCausalLM` layout; weights in `model.safetensors`.").AppendLine();

        card.AppendLine("## Architecture").AppendLine();
        card.AppendLine("| field | value |").AppendLine("|---|---|");
        card.AppendLine($"| parameters | {c.ParameterCount:N0} ({c.ParameterCount * 4 / 1e6:F1} MB in fp32) |");
        card.AppendLine($"| hidden size | {c.HiddenSize} |");
        card.AppendLine($"| layers | {c.NumHiddenLayers} |");
        card.AppendLine($"| attention heads / key-value heads | {c.NumAttentionHeads} / {c.NumKeyValueHeads} (head size {c.HeadDim}) |");
        card.AppendLine($"| MLP (SwiGLU) size | {c.IntermediateSize} |");
        card.AppendLine($"| vocabulary | {c.VocabSize} (SentencePiece BPE, byte fallback) |");
        card.AppendLine($"| context | {c.MaxPositionEmbeddings} positions (trained on {config.SeqLen}) |");
        card.AppendLine($"| RoPE theta / RMSNorm eps | {c.RopeTheta} / {c.RmsNormEps} |");
        card.AppendLine($"| tied embeddings | {(c.TieWordEmbeddings ? "yes" : "no")} |").AppendLine();

        card.AppendLine("## Corpus").AppendLine();
        card.AppendLine("The sources of the data folder named below (its README gives their origin and licence); chat sources are " +
            "rendered in the Vicuna v1.1 template. Every document is BOS + tokens (+ EOS); about 2 % of every source's documents, " +
            "picked by a hash of their text, are held out whatever the weights. A source's weight w puts floor(w) copies of each " +
            "training document in the stream and one more of a hashed share frac(w). The held-out loss is the run's last " +
            "evaluation, per source on the first sequences of its held-out split.").AppendLine();
        var lastEvaluation = state.Evaluations.LastOrDefault();
        card.AppendLine("| source | weight | documents | tokens | training stream | held-out documents | held-out tokens | held-out loss |")
            .AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var s in corpus)
            card.AppendLine($"| {s.Source} | {config.CorpusMixture.Weights.GetValueOrDefault(s.Source):0.##} | {s.Documents:N0} | {s.Tokens:N0} | " +
                $"{s.TrainTokens:N0} | {s.HeldOutDocuments:N0} | {s.HeldOutTokens:N0} | " +
                $"{(lastEvaluation?.Sources?.TryGetValue(s.Source, out double loss) == true ? loss.ToString("F4") : "")} |");
        card.AppendLine($"| total | | {corpus.Sum(s => s.Documents):N0} | {corpus.Sum(s => s.Tokens):N0} | {corpus.Sum(s => s.TrainTokens):N0} | " +
            $"{corpus.Sum(s => s.HeldOutDocuments):N0} | {corpus.Sum(s => s.HeldOutTokens):N0} | " +
            $"{(lastEvaluation is null ? "" : lastEvaluation.Loss.ToString("F4"))} |").AppendLine();

        card.AppendLine("## Training").AppendLine();
        card.AppendLine("| field | value |").AppendLine("|---|---|");
        card.AppendLine($"| steps | {state.Step:N0} of {state.TotalSteps:N0} |");
        card.AppendLine($"| batch | {config.BatchSize} x {config.SeqLen} tokens |");
        card.AppendLine($"| tokens seen | {state.TokensSeen:N0} ({(double)state.TokensSeen / trainTokens:F2} epochs) |");
        card.AppendLine($"| optimizer | AdamW, lr {config.LearningRate} -> {config.MinLearningRate} (warm-up {config.WarmupSteps}, cosine), " +
            $"betas ({config.Beta1}, {config.Beta2}), weight decay {config.WeightDecay}, clip {config.GradClip} |");
        card.AppendLine($"| seed | {config.Seed} |");
        card.AppendLine($"| initial weights | {(state.InitializedFrom is null ? "random" : $"those of the model folder `{Path.GetFileName(state.InitializedFrom)}` when the run started")} |");
        if (state.OptimizerRestarts.Count > 0)
            card.AppendLine($"| optimizer restarts | at step {string.Join(", ", state.OptimizerRestarts)} (the run moved machines without its optimizer state) |");
        card.AppendLine($"| wall time | {TimeSpan.FromSeconds(state.ElapsedSeconds):hh\\:mm\\:ss} |");
        card.AppendLine($"| throughput | {(state.ElapsedSeconds > 0 ? state.TokensSeen / state.ElapsedSeconds : 0):N0} tokens/s ({threads} libtorch threads) |");
        if (recent.Count > 0) card.AppendLine($"| train loss (mean of the last {recent.Count} steps) | {recent.Average():F4} |");
        if (state.Evaluations.Count > 0)
            card.AppendLine($"| held-out loss (step {state.Evaluations[^1].Step}) | {state.Evaluations[^1].Loss:F4} " +
                $"(perplexity {Math.Exp(state.Evaluations[^1].Loss):F2}) |");
        card.AppendLine();

        card.AppendLine("## Greedy samples").AppendLine();
        foreach (var (prompt, output) in samples)
        {
            card.AppendLine($"**{prompt}**").AppendLine();
            card.AppendLine("```").AppendLine(output.Replace("```", "'''")).AppendLine("```").AppendLine();
        }
        return card.ToString();
    }
}
