using System.Numerics.Tensors;

namespace CtcDrafter.Kernels;

internal static class Norm
{
    /// <summary>
    /// y = x / sqrt(mean(x^2) + eps) * weight, as HF LlamaRMSNorm in fp32 (x is scaled first, then multiplied by
    /// the weight). x, weight, y: [dim]; y may be x.
    /// </summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, float eps)
    {
        CheckLengths(x, weight, y);
        float scale = 1f / MathF.Sqrt(Reduce.SumOfSquares(x) / x.Length + eps);
        TensorPrimitives.Multiply(x, scale, y[..x.Length]);
        TensorPrimitives.Multiply(y[..x.Length], weight, y[..x.Length]);
    }

    public static void RmsNormReference(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, float eps)
    {
        CheckLengths(x, weight, y);
        double sum = 0;
        foreach (float v in x) sum += (double)v * v;
        float scale = (float)(1 / Math.Sqrt(sum / x.Length + eps));
        for (int i = 0; i < x.Length; i++) y[i] = x[i] * scale * weight[i];
    }

    static void CheckLengths(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y)
    {
        if (x.IsEmpty || weight.Length != x.Length || y.Length < x.Length)
            throw new ArgumentException($"RmsNorm needs x, weight and y of one non-empty length (got {x.Length}, {weight.Length}, {y.Length}).");
    }
}
