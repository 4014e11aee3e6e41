using static TorchSharp.torch;

namespace CtcDrafter.Training.Data;

/// <summary>
/// Cuts a token stream into training sequences of seqLen + 1 tokens (inputs and shifted targets; consecutive
/// sequences share one token) and serves batches in a deterministic order: every epoch is a permutation of all
/// sequences drawn from the seed, so the batch of a step depends on the step alone and a resumed run continues
/// exactly where it stopped.
/// </summary>
internal sealed class SequenceBatcher(int[] stream, int seqLen, int batchSize, long seed)
{
    int _cachedEpoch = -1;
    int[] _order = [];

    public long SequencesPerEpoch { get; } = Math.Max(0, (stream.Length - 1) / seqLen);

    /// <summary>(inputs [batch, seqLen], targets [batch, seqLen]) of optimizer step <paramref name="step"/>.</summary>
    public (Tensor Inputs, Tensor Targets) Batch(long step)
    {
        var sequences = new long[batchSize];
        for (int j = 0; j < batchSize; j++)
        {
            long sample = step * batchSize + j;
            sequences[j] = Order((int)(sample / SequencesPerEpoch))[sample % SequencesPerEpoch];
        }
        return Gather(sequences);
    }

    /// <summary>The first sequences in stream order (the held-out set), in batches.</summary>
    public IEnumerable<(Tensor Inputs, Tensor Targets)> InOrder(int maxSequences)
    {
        long count = Math.Min(maxSequences, SequencesPerEpoch);
        for (long first = 0; first < count; first += batchSize)
        {
            long n = Math.Min(batchSize, count - first);
            yield return Gather([.. Enumerable.Range(0, (int)n).Select(i => first + i)]);
        }
    }

    (Tensor, Tensor) Gather(long[] sequences)
    {
        var inputs = new long[sequences.Length * seqLen];
        var targets = new long[sequences.Length * seqLen];
        for (int j = 0; j < sequences.Length; j++)
        {
            long start = sequences[j] * seqLen;
            for (int t = 0; t < seqLen; t++)
            {
                inputs[j * seqLen + t] = stream[start + t];
                targets[j * seqLen + t] = stream[start + t + 1];
            }
        }
        return (tensor(inputs, [sequences.Length, seqLen]), tensor(targets, [sequences.Length, seqLen]));
    }

    int[] Order(int epoch)
    {
        if (epoch != _cachedEpoch) (_order, _cachedEpoch) = (SeededPermutation.Of((int)SequencesPerEpoch, seed, epoch), epoch);
        return _order;
    }
}
