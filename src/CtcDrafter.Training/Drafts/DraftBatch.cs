using CtcDrafter.Training.Distill;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Drafts;

/// <summary>
/// Distilled samples as draft-training pairs, padded to the longest: pair j of a sample of L tokens
/// (j = 0..L-2) is (h_j, x_{j+1}), the base feature at j and the next token; its targets are the base feature
/// h_{j+1} and the base model's greedy token after x_{j+1}, g_{j+1} = argmax lm_head(h_{j+1}). A pair counts
/// (weight 1) when x_{j+1} is an answer token other than the final EOS, i.e. where the draft runs at inference.
/// An EAGLE-3 batch also holds the base's states of its chosen layers at j, g_j (<see cref="Layers"/>).
/// </summary>
internal sealed class DraftBatch : IDisposable
{
    public required Tensor Tokens { get; init; }   // [B, P] int64: x_{j+1}
    public required Tensor Features { get; init; } // [B, P, H]: h_j
    public Tensor? Layers { get; init; }           // [B, P, W]: g_j, W = feature layers * H (EAGLE-3 batches)
    public required Tensor Targets { get; init; }  // [B, P, H]: h_{j+1}
    public required Tensor Greedy { get; init; }   // [B, P] int64: g_{j+1}
    public required Tensor Weight { get; init; }   // [B, P] float32: 1 where the pair counts
    public required bool[] Counts { get; init; }   // [B * P] the weights, on the host
    /// <summary>Flat indices b * P + j of the pairs that count, in order: losses are computed on these rows only.</summary>
    public long[] Counted => _counted ??= Enumerable.Range(0, Counts.Length).Where(i => Counts[i]).Select(i => (long)i).ToArray();
    long[]? _counted;
    public int Batch => (int)Tokens.shape[0];
    public int Pairs => (int)Tokens.shape[1];

    /// <summary>
    /// The pairs of <paramref name="samples"/>, each cut to its first <paramref name="maxLength"/> tokens; with
    /// <paramref name="layerStates"/> (a sample and n -> the base states [n, width] at its first n tokens), their g_j too.
    /// </summary>
    public static DraftBatch From(IReadOnlyList<DistillSample> samples, FrozenBase frozen, int maxLength, int eosId,
        Func<DistillSample, int, float[]>? layerStates = null, int width = 0)
    {
        int H = frozen.HiddenSize, B = samples.Count;
        int P = samples.Max(s => Math.Min(s.Length, maxLength)) - 1;
        if (P < 1) throw new ArgumentException("every sample of a batch has fewer than two tokens");
        var tokens = new long[B * P];
        var features = new float[B * P * H];
        var targets = new float[B * P * H];
        var counts = new bool[B * P];
        var layers = layerStates is null ? null : new float[B * P * width];
        for (int b = 0; b < B; b++)
        {
            var s = samples[b];
            int pairs = Math.Min(s.Length, maxLength) - 1;
            layerStates?.Invoke(s, pairs).CopyTo(layers.AsSpan(b * P * width, pairs * width));
            for (int j = 0; j < pairs; j++)
            {
                int next = s.Tokens[j + 1];
                tokens[b * P + j] = next;
                counts[b * P + j] = s.Mask[j + 1] == 1 && next != eosId;
                Bf16(s.Hidden.AsSpan(j * H, H), features.AsSpan((b * P + j) * H, H));
                Bf16(s.Hidden.AsSpan((j + 1) * H, H), targets.AsSpan((b * P + j) * H, H));
            }
        }
        var targetTensor = tensor(targets, [B, P, H]);
        return new DraftBatch
        {
            Tokens = tensor(tokens, [B, P]),
            Features = tensor(features, [B, P, H]),
            Layers = layers is null ? null : tensor(layers, [B, P, width]),
            Targets = targetTensor,
            Greedy = frozen.Greedy(targetTensor),
            Weight = tensor(counts.Select(c => c ? 1f : 0f).ToArray(), [B, P]),
            Counts = counts,
        };
    }

    static void Bf16(ReadOnlySpan<ushort> bits, Span<float> values)
    {
        for (int i = 0; i < bits.Length; i++) values[i] = Kernels.Conversions.Bf16ToF32(bits[i]);
    }

    /// <summary>Pairs j of row b whose next <paramref name="span"/> pairs all count (windows inside an answer).</summary>
    public IEnumerable<(int Row, int Pair)> Windows(int span)
    {
        for (int b = 0; b < Batch; b++)
        {
            int run = 0; // counting pairs ending at j
            for (int j = 0; j < Pairs; j++)
            {
                run = Counts[b * Pairs + j] ? run + 1 : 0;
                if (run >= span) yield return (b, j - span + 1);
            }
        }
    }

    public void Dispose()
    {
        Tokens.Dispose();
        Features.Dispose();
        Layers?.Dispose();
        Targets.Dispose();
        Greedy.Dispose();
        Weight.Dispose();
    }
}
