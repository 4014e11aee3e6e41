using System.Runtime.CompilerServices;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>Scalar conversions between the file dtypes and fp32 (one-time, at load).</summary>
internal static unsafe class Conversions
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Bf16ToF32(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Narrows to bfloat16 with round-to-nearest-even; NaN stays a (quiet) NaN.</summary>
    public static ushort F32ToBf16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if (float.IsNaN(value)) return (ushort)((bits >> 16) | 0x40);
        uint lsb = (bits >> 16) & 1;
        return (ushort)((bits + 0x7FFF + lsb) >> 16);
    }

    public static float F16ToF32(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);

    /// <summary>Decodes dst.Length elements of src starting at element <paramref name="start"/> into fp32.</summary>
    public static void ReadF32(in RawTensor src, long start, Span<float> dst)
    {
        switch (src.DType)
        {
            case TensorDType.F32:
                new ReadOnlySpan<float>((float*)src.Data + start, dst.Length).CopyTo(dst);
                break;
            case TensorDType.BF16:
            {
                ushort* p = (ushort*)src.Data + start;
                for (int i = 0; i < dst.Length; i++) dst[i] = Bf16ToF32(p[i]);
                break;
            }
            case TensorDType.F16:
            {
                ushort* p = (ushort*)src.Data + start;
                for (int i = 0; i < dst.Length; i++) dst[i] = F16ToF32(p[i]);
                break;
            }
            case TensorDType.Q8_0:
            {
                // Blocks of 34 bytes: an fp16 scale d, then 32 int8 q; weight = d * q.
                for (int i = 0; i < dst.Length; i++)
                {
                    long e = start + i;
                    byte* block = src.Data + e / 32 * 34;
                    dst[i] = F16ToF32(*(ushort*)block) * ((sbyte*)block)[2 + e % 32];
                }
                break;
            }
            default:
                throw new ArgumentException($"Tensor '{src.Name}' has unsupported dtype {src.DType}.", nameof(src));
        }
    }
}
