using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace CtcDrafter.Kernels;

/// <summary>
/// Rotary position embedding, rotate-half convention of HF LLaMA: for head dim d the pairs (x[i], x[i + d/2]) turn
/// by the angle pos * inv_freq[i], inv_freq[i] = theta^(-2i/d) unless the model scales it (see ModelConfig.InverseFrequencies).
/// The cos/sin table is computed as HF does, in fp32: angle = (float)pos * inv_freq, then cos and sin of that fp32 angle
/// (rounded from double).
/// </summary>
internal sealed class RopeTable
{
    public int HeadDim { get; }
    public int MaxPositions { get; }

    readonly float[] _cos; // [maxPositions, headDim / 2]
    readonly float[] _sin; // [maxPositions, headDim / 2]

    /// <summary>The table for inverse frequencies invFreq [headDim / 2].</summary>
    public RopeTable(int headDim, int maxPositions, float[] invFreq)
    {
        if (headDim <= 0 || headDim % 2 != 0) throw new ArgumentException($"RoPE head dim must be even and positive (got {headDim}).", nameof(headDim));
        ArgumentOutOfRangeException.ThrowIfLessThan(maxPositions, 1);
        if (invFreq.Length != headDim / 2) throw new ArgumentException($"{invFreq.Length} inverse frequencies for head dim {headDim}.", nameof(invFreq));
        HeadDim = headDim;
        MaxPositions = maxPositions;
        int half = headDim / 2;
        _cos = new float[(long)maxPositions * half];
        _sin = new float[(long)maxPositions * half];
        for (int pos = 0; pos < maxPositions; pos++)
            for (int i = 0; i < half; i++)
            {
                float angle = pos * invFreq[i];
                _cos[pos * half + i] = (float)Math.Cos(angle);
                _sin[pos * half + i] = (float)Math.Sin(angle);
            }
    }

    /// <summary>Rotates x [heads, headDim] in place for one position.</summary>
    public void Apply(Span<float> x, int position)
    {
        if (x.Length % HeadDim != 0) throw new ArgumentException($"x holds {x.Length} values, not a multiple of head dim {HeadDim}.", nameof(x));
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual((uint)position, (uint)MaxPositions, nameof(position));
        int half = HeadDim / 2;
        ReadOnlySpan<float> cos = _cos.AsSpan(position * half, half);
        ReadOnlySpan<float> sin = _sin.AsSpan(position * half, half);
        for (int h = 0; h < x.Length; h += HeadDim)
        {
            Span<float> a = x.Slice(h, half), b = x.Slice(h + half, half);
            ref float ra = ref MemoryMarshal.GetReference(a), rb = ref MemoryMarshal.GetReference(b);
            ref float rc = ref MemoryMarshal.GetReference(cos), rs = ref MemoryMarshal.GetReference(sin);
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
                for (; i <= half - 8; i += 8)
                {
                    Vector256<float> va = Vector256.LoadUnsafe(ref ra, (nuint)i), vb = Vector256.LoadUnsafe(ref rb, (nuint)i);
                    Vector256<float> c = Vector256.LoadUnsafe(ref rc, (nuint)i), s = Vector256.LoadUnsafe(ref rs, (nuint)i);
                    (va * c - vb * s).StoreUnsafe(ref ra, (nuint)i);
                    (vb * c + va * s).StoreUnsafe(ref rb, (nuint)i);
                }
            for (; i < half; i++)
            {
                float ai = a[i], bi = b[i];
                a[i] = ai * cos[i] - bi * sin[i];
                b[i] = bi * cos[i] + ai * sin[i];
            }
        }
    }

    /// <summary>The same rotation of x [heads, headDim] with every angle computed in double, without a table.</summary>
    public static void ApplyReference(Span<float> x, int headDim, int position, double theta)
    {
        int half = headDim / 2;
        for (int h = 0; h < x.Length; h += headDim)
            for (int i = 0; i < half; i++)
            {
                double angle = position * Math.Pow(theta, -2.0 * i / headDim);
                double a = x[h + i], b = x[h + half + i];
                x[h + i] = (float)(a * Math.Cos(angle) - b * Math.Sin(angle));
                x[h + half + i] = (float)(b * Math.Cos(angle) + a * Math.Sin(angle));
            }
    }
}
