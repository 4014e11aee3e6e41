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
            case TensorDType.Q4_0 or TensorDType.Q4_K or TensorDType.Q6_K:
                ReadBlocks(src, start, dst);
                break;
            default:
                throw new ArgumentException($"Tensor '{src.Name}' has unsupported dtype {src.DType}.", nameof(src));
        }
    }

    /// <summary>Decodes whole rows of a 4- or 6-bit tensor through the weight format that computes it, so that the
    /// widened weights are exactly those the kernels use.</summary>
    static void ReadBlocks(in RawTensor src, long start, Span<float> dst)
    {
        int cols = src.Shape[^1];
        if (start % cols != 0 || dst.Length % cols != 0)
            throw new ArgumentException($"Tensor '{src.Name}' ({src.DType}) is read by whole rows only.", nameof(dst));
        int rows = dst.Length / cols;
        var rowTensor = new RawTensor(src.Name, src.DType, [rows, cols], src.Data + start / cols * RawTensor.CheckedByteLength([1, cols], src.DType)!.Value);
        using WeightMatrix m = WeightMatrix.Create(rowTensor, src.DType == TensorDType.Q6_K ? WeightFormat.Q6K : WeightFormat.Q4);
        for (int r = 0; r < rows; r++) m.ReadRow(r, dst.Slice(r * cols, cols));
    }
}
