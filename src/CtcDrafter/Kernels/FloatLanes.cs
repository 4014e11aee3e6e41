using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CtcDrafter.Kernels;

/// <summary>
/// The vector width of the dense float tiles (<see cref="DenseKernel{TRow, TLanes, TV}"/>): TV holds
/// <see cref="Count"/> fp32 lanes, column c of a row in lane c mod Count.
/// </summary>
internal unsafe interface IFloatLanes<TV> where TV : struct
{
    static abstract int Count { get; }
    static abstract TV Load(float* p);
    /// <summary>Count elements of a row at p, widened to fp32.</summary>
    static abstract TV LoadRow(byte* p);
    /// <summary>a * b + c, rounded once.</summary>
    static abstract TV MultiplyAdd(TV a, TV b, TV c);
    /// <summary>[sum(a), sum(b), sum(c), sum(d)], each vector's lanes added in a fixed order (<see cref="TiledMatMul.Sum4"/>).</summary>
    static abstract Vector128<float> Sum4(TV a, TV b, TV c, TV d);
}

/// <summary>8 lanes of rows in TRow's format: AVX2 and FMA.</summary>
internal readonly unsafe struct Lanes8<TRow> : IFloatLanes<Vector256<float>> where TRow : struct, IDenseRow
{
    public static int Count => 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* p) => Vector256.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadRow(byte* p) => TRow.Load8(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Fma.MultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector256<float> a, Vector256<float> b, Vector256<float> c, Vector256<float> d) => TiledMatMul.Sum4(a, b, c, d);
}

/// <summary>16 lanes of rows in TRow's format: AVX-512, the upper half added onto the lower, then <see cref="Lanes8{TRow}"/>'s order.</summary>
internal readonly unsafe struct Lanes16<TRow> : IFloatLanes<Vector512<float>> where TRow : struct, IDenseRow
{
    public static int Count => 16;

    /// <summary>Whether this machine runs 16 lanes.</summary>
    public static bool Supported => Avx512F.IsSupported;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(float* p) => Vector512.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadRow(byte* p) => TRow.Load16(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> MultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Avx512F.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Fold(Vector512<float> a) => a.GetLower() + a.GetUpper();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d) =>
        TiledMatMul.Sum4(Fold(a), Fold(b), Fold(c), Fold(d));
}
