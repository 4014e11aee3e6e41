using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace CtcDrafter.Kernels;

/// <summary>
/// Reductions whose result depends on the values alone, never on where they lie in memory. TensorPrimitives'
/// reductions align their loads to the address of the data, so the same row summed at another offset (row t of a
/// T-token buffer against the only row of a one-token buffer) can round differently; these always visit the
/// elements in one order: 8-wide lanes from index 0, the lanes added pairwise, then the tail in index order.
/// </summary>
internal static class Reduce
{
    /// <summary>sum_i a[i] * b[i]; a and b of one length.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"Dot of lengths {a.Length} and {b.Length}");
        ref float pa = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(a);
        ref float pb = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(b);
        int n = a.Length, i = 0;
        Vector256<float> acc = Vector256<float>.Zero;
        for (; i <= n - 8; i += 8)
            acc += Vector256.LoadUnsafe(ref pa, (nuint)i) * Vector256.LoadUnsafe(ref pb, (nuint)i);
        float sum = Lanes(acc);
        for (; i < n; i++) sum += Unsafe.Add(ref pa, i) * Unsafe.Add(ref pb, i);
        return sum;
    }

    /// <summary>sum_i x[i].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Sum(ReadOnlySpan<float> x)
    {
        ref float p = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        int n = x.Length, i = 0;
        Vector256<float> acc = Vector256<float>.Zero;
        for (; i <= n - 8; i += 8) acc += Vector256.LoadUnsafe(ref p, (nuint)i);
        float sum = Lanes(acc);
        for (; i < n; i++) sum += Unsafe.Add(ref p, i);
        return sum;
    }

    /// <summary>sum_i x[i]^2.</summary>
    public static float SumOfSquares(ReadOnlySpan<float> x) => Dot(x, x);

    /// <summary>The largest element (exact in any order); NaN if any element is NaN.</summary>
    public static float Max(ReadOnlySpan<float> x)
    {
        float max = float.NegativeInfinity;
        foreach (float v in x)
        {
            if (float.IsNaN(v)) return v;
            if (v > max) max = v;
        }
        return max;
    }

    // ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Lanes(Vector256<float> v)
    {
        Vector128<float> h = v.GetLower() + v.GetUpper();
        return (h.GetElement(0) + h.GetElement(1)) + (h.GetElement(2) + h.GetElement(3));
    }
}
