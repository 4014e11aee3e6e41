using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace CtcDrafter.Kernels;

/// <summary>fp32 elements, as they lie in the file (a view) or copied/converted once.</summary>
internal readonly unsafe struct F32Row : IDenseRow
{
    public static int ElementSize => 4;
    public static WeightFormat Format => WeightFormat.F32;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) => Vector256.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p) => Vector512.Load((float*)p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => *(float*)p;

    public static void Store1(float value, byte* p) => *(float*)p = value;
}

/// <summary>bfloat16 elements: the upper half of an fp32, so widening is a 16-bit shift; narrowing rounds to nearest even.</summary>
internal readonly unsafe struct Bf16Row : IDenseRow
{
    public static int ElementSize => 2;
    public static WeightFormat Format => WeightFormat.BF16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load8(byte* p) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)p), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load16(byte* p) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512Int32(Vector256.Load((ushort*)p)), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(byte* p) => Conversions.Bf16ToF32(*(ushort*)p);

    public static void Store1(float value, byte* p) => *(ushort*)p = Conversions.F32ToBf16(value);
}
