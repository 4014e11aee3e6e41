using CtcDrafter.Training.Data;
using CtcDrafter.Training.Model;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Pretraining;

/// <summary>
/// Mean loss per token over the held-out sequences of a corpus: the first <c>eval_sequences / sources</c> (at least
/// one) of every source's held-out stream, so that every source counts, also per source. Sources whose held-out
/// stream is shorter than one sequence are left out. The same sequences every time, for the run and for any model.
/// </summary>
internal sealed class HeldOutEvaluation
{
    readonly Dictionary<string, SequenceBatcher> _sources;
    readonly int _perSource;

    public HeldOutEvaluation(TokenCorpus corpus, PretrainConfig config)
    {
        _sources = corpus.HeldOutBySource.Where(s => s.Value.Length > config.SeqLen)
            .ToDictionary(s => s.Key, s => new SequenceBatcher(s.Value, config.SeqLen, config.BatchSize, config.Seed));
        if (_sources.Count == 0)
            throw new TrainingInputException($"no source's held-out split holds one sequence of {config.SeqLen} tokens");
        _perSource = Math.Max(1, config.EvalSequences / _sources.Count);
    }

    /// <summary>The loss of <paramref name="model"/>, recorded as at <paramref name="step"/>; the model is left in training mode.</summary>
    public EvalPoint Evaluate(LlamaForCausalLM model, long step)
    {
        model.eval();
        var bySource = new Dictionary<string, double>();
        double total = 0;
        long count = 0;
        using (no_grad())
            foreach (var (source, batcher) in _sources)
            {
                double sourceTotal = 0;
                long sourceCount = 0;
                foreach (var (inputs, targets) in batcher.InOrder(_perSource))
                    using (inputs)
                    using (targets)
                    using (NewDisposeScope())
                    {
                        var (logits, _) = model.forward(inputs); // [batch, seq, vocab]
                        sourceTotal += nn.functional.cross_entropy(logits.view(-1, logits.shape[^1]), targets.view(-1),
                            reduction: nn.Reduction.Sum).item<float>();
                        sourceCount += targets.numel();
                    }
                bySource[source] = sourceTotal / sourceCount;
                total += sourceTotal;
                count += sourceCount;
            }
        model.train();
        return new EvalPoint(step, total / count, bySource);
    }
}
