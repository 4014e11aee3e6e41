using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CtcDrafter.Kernels;

/// <summary>
/// The two halves of one query head's attention over a run of cache slots: scores q·k_s · scale, and the
/// probability-weighted sum of values. Each result depends on the values alone, never on how the slots are
/// grouped: a key's score is the same whether it is scored alone or in a run of many, and values accumulated
/// over slots [0, n) in one call equal those accumulated over [0, k) and then [k, n). So a tree node that finds
/// its committed keys in one run and its ancestors one by one computes exactly what plain decoding computes with
/// all of them committed.
/// </summary>
internal static class Attention
{
    /// <summary>
    /// scores[s] = (q · keys[s]) · scale; q [d], keys [n, d], scores [n]. Per key: 8-wide fused multiply-adds from
    /// index 0, the lanes added as ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)), then the tail fused in index order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scores(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, float scale, Span<float> scores)
    {
        int d = q.Length, n = scores.Length;
        if (keys.Length != n * d) throw new ArgumentException($"{keys.Length} key values for {n} keys of {d}");
        ref float pq = ref MemoryMarshal.GetReference(q);
        ref float pk = ref MemoryMarshal.GetReference(keys);
        int s = 0;
        if (Sse3.IsSupported)
            for (; s + 4 <= n; s += 4)
            {
                ref float k0 = ref Unsafe.Add(ref pk, s * d);
                ref float k1 = ref Unsafe.Add(ref k0, d);
                ref float k2 = ref Unsafe.Add(ref k1, d);
                ref float k3 = ref Unsafe.Add(ref k2, d);
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                int i = 0;
                for (; i <= d - 8; i += 8)
                {
                    var qv = Vector256.LoadUnsafe(ref pq, (nuint)i);
                    a0 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref k0, (nuint)i), a0);
                    a1 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref k1, (nuint)i), a1);
                    a2 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref k2, (nuint)i), a2);
                    a3 = Vector256.FusedMultiplyAdd(qv, Vector256.LoadUnsafe(ref k3, (nuint)i), a3);
                }
                // hadd(hadd(v0, v1), hadd(v2, v3)) with v = lower + upper: lane j is ((v0 + v1) + (v2 + v3)) of key j.
                Vector128<float> sums = Sse3.HorizontalAdd(
                    Sse3.HorizontalAdd(a0.GetLower() + a0.GetUpper(), a1.GetLower() + a1.GetUpper()),
                    Sse3.HorizontalAdd(a2.GetLower() + a2.GetUpper(), a3.GetLower() + a3.GetUpper()));
                for (int j = 0; j < 4; j++)
                    scores[s + j] = Tail(ref pq, ref Unsafe.Add(ref k0, j * d), i, d, sums.GetElement(j)) * scale;
            }
        for (; s < n; s++)
        {
            ref float k = ref Unsafe.Add(ref pk, s * d);
            Vector256<float> a = default;
            int i = 0;
            for (; i <= d - 8; i += 8)
                a = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref pq, (nuint)i), Vector256.LoadUnsafe(ref k, (nuint)i), a);
            Vector128<float> v = a.GetLower() + a.GetUpper();
            scores[s] = Tail(ref pq, ref k, i, d, (v[0] + v[1]) + (v[2] + v[3])) * scale;
        }
    }

    // sum + q[i..d) · k[i..d), fused in index order
    static float Tail(ref float q, ref float k, int i, int d, float sum)
    {
        for (; i < d; i++) sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref q, i), Unsafe.Add(ref k, i), sum);
        return sum;
    }

    /// <summary>
    /// o += sum_s p[s] · values[s]; p [n], values [n, d], o [d]. Every element of o takes its n fused multiply-adds
    /// in slot order, whatever the width of the lanes that carry it (64 elements in four 512-bit registers where
    /// AVX-512 runs, then 32 in four 256-bit ones, then 8, then one at a time).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AccumulateValues(ReadOnlySpan<float> p, ReadOnlySpan<float> values, Span<float> o)
    {
        int d = o.Length, n = p.Length;
        if (values.Length != n * d) throw new ArgumentException($"{values.Length} values for {n} slots of {d}");
        ref float pv = ref MemoryMarshal.GetReference(values);
        ref float po = ref MemoryMarshal.GetReference(o);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 64 <= d; i += 64)
            {
                ref float oi = ref Unsafe.Add(ref po, i);
                Vector512<float> a0 = Vector512.LoadUnsafe(ref oi), a1 = Vector512.LoadUnsafe(ref oi, 16);
                Vector512<float> a2 = Vector512.LoadUnsafe(ref oi, 32), a3 = Vector512.LoadUnsafe(ref oi, 48);
                for (int s = 0; s < n; s++)
                {
                    var w = Vector512.Create(p[s]);
                    ref float v = ref Unsafe.Add(ref pv, s * d + i);
                    a0 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref v), a0);
                    a1 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref v, 16), a1);
                    a2 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref v, 32), a2);
                    a3 = Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref v, 48), a3);
                }
                a0.StoreUnsafe(ref oi);
                a1.StoreUnsafe(ref oi, 16);
                a2.StoreUnsafe(ref oi, 32);
                a3.StoreUnsafe(ref oi, 48);
            }
        for (; i + 32 <= d; i += 32)
        {
            ref float oi = ref Unsafe.Add(ref po, i);
            Vector256<float> a0 = Vector256.LoadUnsafe(ref oi), a1 = Vector256.LoadUnsafe(ref oi, 8);
            Vector256<float> a2 = Vector256.LoadUnsafe(ref oi, 16), a3 = Vector256.LoadUnsafe(ref oi, 24);
            for (int s = 0; s < n; s++)
            {
                var w = Vector256.Create(p[s]);
                ref float v = ref Unsafe.Add(ref pv, s * d + i);
                a0 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref v), a0);
                a1 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref v, 8), a1);
                a2 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref v, 16), a2);
                a3 = Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref v, 24), a3);
            }
            a0.StoreUnsafe(ref oi);
            a1.StoreUnsafe(ref oi, 8);
            a2.StoreUnsafe(ref oi, 16);
            a3.StoreUnsafe(ref oi, 24);
        }
        for (; i + 8 <= d; i += 8)
        {
            ref float oi = ref Unsafe.Add(ref po, i);
            Vector256<float> a = Vector256.LoadUnsafe(ref oi);
            for (int s = 0; s < n; s++)
                a = Vector256.FusedMultiplyAdd(Vector256.Create(p[s]), Vector256.LoadUnsafe(ref pv, (nuint)(s * d + i)), a);
            a.StoreUnsafe(ref oi);
        }
        for (; i < d; i++)
        {
            float a = o[i];
            for (int s = 0; s < n; s++) a = MathF.FusedMultiplyAdd(p[s], Unsafe.Add(ref pv, s * d + i), a);
            o[i] = a;
        }
    }

    /// <summary>Reference: the same two halves in float64, one slot at a time.</summary>
    public static void ScoresReference(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, float scale, Span<float> scores)
    {
        int d = q.Length;
        for (int s = 0; s < scores.Length; s++)
        {
            double sum = 0;
            for (int i = 0; i < d; i++) sum += (double)q[i] * keys[s * d + i];
            scores[s] = (float)(sum * scale);
        }
    }

    /// <inheritdoc cref="ScoresReference"/>
    public static void AccumulateValuesReference(ReadOnlySpan<float> p, ReadOnlySpan<float> values, Span<float> o)
    {
        int d = o.Length;
        for (int i = 0; i < d; i++)
        {
            double sum = o[i];
            for (int s = 0; s < p.Length; s++) sum += (double)p[s] * values[s * d + i];
            o[i] = (float)sum;
        }
    }
}
