using CtcDrafter.Drafters;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Drafts;

/// <summary>How a draft network is trained: loss weights, noise and the number of CTC windows per batch.</summary>
/// <param name="CtcWeight">Weight of the CTC term (ctc drafts; 0 turns it off).</param>
/// <param name="Noise">Input-feature noise: uniform of amplitude <c>Noise * 512 / pairs</c>, as EAGLE's AddUniformNoise.</param>
/// <param name="CtcWindows">At most this many CTC windows per batch, drawn at random.</param>
internal sealed record DraftLossSettings(double CtcWeight, double Noise, int CtcWindows)
{
    public const double FeatureWeight = 1.0;
    public const double SoftCrossEntropyWeight = 0.1;
}

/// <summary>A trainable draft network over the frozen base model: the CTC/EAGLE feature chain or Medusa heads.</summary>
internal abstract class DraftNetwork(string name, FrozenBase frozen) : nn.Module(name)
{
    public FrozenBase Base { get; } = frozen;

    public abstract DraftKind Kind { get; }

    /// <summary>Training loss of a batch (noise and random CTC windows only when <paramref name="random"/> is given) and its parts.</summary>
    public abstract (Tensor Loss, Dictionary<string, double> Parts) Loss(DraftBatch batch, DraftLossSettings settings, Random? random);

    /// <summary>
    /// The draft's top-1 tokens at depths 1..<paramref name="depth"/> from pairs <paramref name="anchors"/> of row 0 of
    /// <paramref name="batch"/>, drafted as the engine drafts: [depth, anchors] int64. Depth d from anchor j
    /// predicts the base model's greedy token <c>Greedy[0, j + d - 1]</c>.
    /// </summary>
    public abstract Tensor DepthTokens(DraftBatch batch, long[] anchors, int depth);

    /// <summary>
    /// For fitting the score temperature: the summed negative log-likelihood, at each of <paramref name="temperatures"/>
    /// (logits divided by T), of what the drafter scores its trees with against the base model's greedy tokens, and
    /// the number of terms. Chain drafts: the teacher-forced distribution at every counted pair; Medusa: every head at
    /// every pair it counts for; ctc-nar: the CTC loss of the frames of evenly spread root pairs.
    /// </summary>
    public abstract (double[] Sums, long Count) ScoreLosses(DraftBatch batch, DraftLossSettings settings, double[] temperatures);

    /// <summary>The summed cross-entropy of logits [M, C] against targets [M] at each temperature.</summary>
    protected static double[] CrossEntropies(Tensor logits, Tensor targets, double[] temperatures)
    {
        using var scope = NewDisposeScope();
        return [.. temperatures.Select(t => (double)nn.functional.cross_entropy(logits / t, targets, reduction: nn.Reduction.Sum).item<float>())];
    }

    /// <summary>Tensors the draft folder holds beside the trainable ones (EAGLE-3's d2t).</summary>
    public virtual IEnumerable<CtcDrafter.Model.SafeTensorsWriter.Entry> ExtraTensors => [];

    /// <summary>The draft folder's config (without the training summary) for its base model.</summary>
    public abstract DraftConfig Config(BaseIdentity identity);

    // Components are registered explicitly under the engine's tensor names.
    protected override void RegisterComponents() { }
}
