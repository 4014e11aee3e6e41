using System.Numerics.Tensors;

namespace CtcDrafter.Kernels;

internal static class Activations
{
    const int Chunk = 256;

    /// <summary>
    /// gate[i] = silu(gate[i]) * up[i], silu(g) = g * sigmoid(g) (the LLaMA MLP). gate, up: [n], one token's row:
    /// the chunks start at the row's first element, so a token's row computes alike whatever else is in the batch.
    /// </summary>
    public static void SwiGlu(Span<float> gate, ReadOnlySpan<float> up)
    {
        CheckLengths(gate, up);
        Span<float> sigmoid = stackalloc float[Chunk];
        for (int i = 0; i < gate.Length; i += Chunk)
        {
            int n = Math.Min(Chunk, gate.Length - i);
            Span<float> g = gate.Slice(i, n);
            TensorPrimitives.Sigmoid(g, sigmoid[..n]);
            TensorPrimitives.Multiply(g, sigmoid[..n], g);
            TensorPrimitives.Multiply(g, up.Slice(i, n), g);
        }
    }

    public static void SwiGluReference(Span<float> gate, ReadOnlySpan<float> up)
    {
        CheckLengths(gate, up);
        for (int i = 0; i < gate.Length; i++)
        {
            double g = gate[i];
            gate[i] = (float)(g / (1 + Math.Exp(-g)) * up[i]);
        }
    }

    /// <summary>
    /// x = exp(x - max(x)) / sum(exp(x - max(x))) in place; entries of -inf become 0. The result depends on the
    /// values and the length alone (<see cref="Reduce"/>), so a row softmaxed anywhere gives the same floats.
    /// </summary>
    public static void Softmax(Span<float> x)
    {
        if (x.IsEmpty) return;
        float max = Reduce.Max(x);
        TensorPrimitives.Subtract(x, max, x);
        TensorPrimitives.Exp(x, x);
        TensorPrimitives.Divide(x, Reduce.Sum(x), x);
    }

    public static void SoftmaxReference(Span<float> x)
    {
        if (x.IsEmpty) return;
        float max = float.NegativeInfinity;
        foreach (float v in x) max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in x) sum += Math.Exp((double)v - max);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(Math.Exp((double)x[i] - max) / sum);
    }

    static void CheckLengths(Span<float> gate, ReadOnlySpan<float> up)
    {
        if (up.Length != gate.Length)
            throw new ArgumentException($"SwiGlu needs gate and up of one length (got {gate.Length} and {up.Length}).");
    }
}
