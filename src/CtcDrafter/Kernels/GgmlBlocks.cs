namespace CtcDrafter.Kernels;

/// <summary>
/// GGUF's reference block quantizers (ggml-quants.c, as gguf-py reproduces them), for files written here and for
/// <c>--dtype q4</c>, so that both hold exactly what llama.cpp's own converter would write.
/// </summary>
internal static class GgmlBlocks
{
    public const int Q8_0Bytes = 34, Q4_0Bytes = 18, BlockSize = 32;

    /// <summary>Q8_0: d = max|w| / 127 (kept in fp16), q = round(w / d) ties away from zero, computed as w * (1 / d).</summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> w, Span<byte> block)
    {
        float amax = 0;
        foreach (float v in w[..BlockSize]) amax = MathF.Max(amax, MathF.Abs(v));
        float d = amax / 127, inverse = d == 0 ? 0 : 1 / d;
        BitConverter.TryWriteBytes(block, BitConverter.HalfToUInt16Bits((Half)d));
        for (int i = 0; i < BlockSize; i++)
            block[2 + i] = (byte)(sbyte)MathF.Round(w[i] * inverse, MidpointRounding.AwayFromZero);
    }

    /// <summary>Q4_0: d = the value of largest magnitude / -8 (kept in fp16), q = trunc(w / d + 8.5) clamped to 0..15,
    /// nibbles of columns i (low) and 16 + i (high) in byte i.</summary>
    public static void QuantizeQ4_0(ReadOnlySpan<float> w, Span<byte> block)
    {
        float max = 0, amax = 0;
        foreach (float v in w[..BlockSize])
            if (MathF.Abs(v) > amax)
            {
                amax = MathF.Abs(v);
                max = v;
            }
        float d = max / -8f, inverse = d == 0 ? 0 : 1f / d;
        BitConverter.TryWriteBytes(block, BitConverter.HalfToUInt16Bits((Half)d));
        for (int i = 0; i < 16; i++)
            block[2 + i] = (byte)(Nibble(w[i], inverse) | (Nibble(w[16 + i], inverse) << 4));
    }

    static int Nibble(float w, float inverse) => Math.Clamp((int)MathF.FusedMultiplyAdd(w, inverse, 8.5f), 0, 15);
}
