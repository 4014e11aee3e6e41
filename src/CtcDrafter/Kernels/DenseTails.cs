using System.Runtime.Intrinsics;

namespace CtcDrafter.Kernels;

/// <summary>
/// The columns c.. past the vector part of a dense tile (<see cref="DenseKernel{TRow, TLanes, TV}"/>),
/// summed in scalar in column order and returned as the sums to add, in the tile's lane order. Every tile of both
/// kernels sums its tail here, so a (row, token) sum's tail is the same whichever tile computes it.
/// </summary>
internal static unsafe class DenseTails<TRow> where TRow : struct, IDenseRow
{
    /// <summary>[W[p0]·x, W[p1]·x, W[p2]·x, W[p3]·x] over columns [c, cols).</summary>
    public static Vector128<float> Rows4(byte* p0, byte* p1, byte* p2, byte* p3, float* x, nint c, int cols)
    {
        float t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        for (; c < cols; c++)
        {
            float xc = x[c];
            nint o = c * TRow.ElementSize;
            t0 += TRow.Load1(p0 + o) * xc;
            t1 += TRow.Load1(p1 + o) * xc;
            t2 += TRow.Load1(p2 + o) * xc;
            t3 += TRow.Load1(p3 + o) * xc;
        }
        return Vector128.Create(t0, t1, t2, t3);
    }

    /// <summary>Rows p0, p1 against tokens x0..x3 over columns [c, cols), added to s0 and s1.</summary>
    public static void Tile2x4(byte* p0, byte* p1, float* x0, float* x1, float* x2, float* x3, nint c, int cols, ref Vector128<float> s0, ref Vector128<float> s1)
    {
        float t00 = 0, t01 = 0, t02 = 0, t03 = 0, t10 = 0, t11 = 0, t12 = 0, t13 = 0;
        for (; c < cols; c++)
        {
            nint o = c * TRow.ElementSize;
            float w0 = TRow.Load1(p0 + o), w1 = TRow.Load1(p1 + o);
            t00 += w0 * x0[c]; t01 += w0 * x1[c]; t02 += w0 * x2[c]; t03 += w0 * x3[c];
            t10 += w1 * x0[c]; t11 += w1 * x1[c]; t12 += w1 * x2[c]; t13 += w1 * x3[c];
        }
        s0 += Vector128.Create(t00, t01, t02, t03);
        s1 += Vector128.Create(t10, t11, t12, t13);
    }

    /// <summary>[W[p0]·x0, W[p0]·x1, W[p1]·x0, W[p1]·x1] over columns [c, cols).</summary>
    public static Vector128<float> Tile2x2(byte* p0, byte* p1, float* x0, float* x1, nint c, int cols)
    {
        float t00 = 0, t01 = 0, t10 = 0, t11 = 0;
        for (; c < cols; c++)
        {
            nint o = c * TRow.ElementSize;
            float w0 = TRow.Load1(p0 + o), w1 = TRow.Load1(p1 + o);
            t00 += w0 * x0[c]; t01 += w0 * x1[c];
            t10 += w1 * x0[c]; t11 += w1 * x1[c];
        }
        return Vector128.Create(t00, t01, t10, t11);
    }
}
