namespace CtcDrafter.Model;

/// <summary>bfloat16 conversions: the upper 16 bits of an IEEE fp32.</summary>
internal static class BFloat16
{
    public static float ToFloat(ushort b) => BitConverter.Int32BitsToSingle(b << 16);

    public static ushort FromFloat(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((u >> 16) | 0x40);
        u += 0x7FFF + ((u >> 16) & 1); // round to nearest, ties to even
        return (ushort)(u >> 16);
    }
}
