using TorchSharp;
using static TorchSharp.torch;

namespace CtcDrafter.Training.Model;

/// <summary>
/// Rotary position embedding in Hugging Face's "rotate half" form: dimension i is paired with i + d/2, with
/// inv_freq[i] = 1 / theta^(2i/d). The tables are computed in double precision and stored in float32.
/// </summary>
internal sealed class RotaryEmbedding : nn.Module
{
    readonly Tensor _cos; // [maxPositions, headDim]
    readonly Tensor _sin; // [maxPositions, headDim]

    public RotaryEmbedding(int headDim, int maxPositions, double theta) : base(nameof(RotaryEmbedding))
    {
        using var scope = NewDisposeScope();
        var invFreq = pow(theta, arange(0, headDim, 2, dtype: float64) / headDim).reciprocal(); // [headDim/2]
        var angles = outer(arange(maxPositions, dtype: float64), invFreq);                    // [maxPositions, headDim/2]
        var both = cat([angles, angles], 1);                                                    // [maxPositions, headDim]
        _cos = both.cos().to(float32).MoveToOuterDisposeScope();
        _sin = both.sin().to(float32).MoveToOuterDisposeScope();
        register_buffer("cos", _cos, persistent: false);
        register_buffer("sin", _sin, persistent: false);
    }

    // Registered explicitly under Hugging Face's names (see LlamaForCausalLM).
    protected override void RegisterComponents() { }

    /// <summary>
    /// Rotates x [batch, heads, seq, headDim] at positions 0..seq-1, or at <paramref name="positions"/> [seq], or at
    /// positions of their own per batch row [batch, seq].
    /// </summary>
    public Tensor Apply(Tensor x, Tensor? positions = null)
    {
        using var scope = NewDisposeScope();
        long seq = x.shape[2], half = x.shape[3] / 2;
        var cos = positions is null ? _cos.narrow(0, 0, seq) : Rows(_cos, positions); // [seq, headDim] or [batch, 1, seq, headDim]
        var sin = positions is null ? _sin.narrow(0, 0, seq) : Rows(_sin, positions);
        var rotated = cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
        return (x * cos + rotated * sin).MoveToOuterDisposeScope();
    }

    static Tensor Rows(Tensor table, Tensor positions) => positions.dim() == 1
        ? table.index_select(0, positions)
        : table.index_select(0, positions.reshape(-1)).view(positions.shape[0], 1, positions.shape[1], table.shape[1]);
}
