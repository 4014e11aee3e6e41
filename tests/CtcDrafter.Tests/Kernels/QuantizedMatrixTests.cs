using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Tests.Kernels;

/// <summary>
/// The block formats (Q8: GGUF Q8_0 and --dtype q8; Q4: GGUF Q4_0 and Q4_K, and --dtype q4; Q6K: GGUF Q6_K), which
/// compute on int8 activations: checked against a double-precision product of the widened weights with activations quantized
/// here, independently, by Q8_0's rule; against the float reference within the activations' quantization error;
/// and for the lossless rule (row t of a T-token product is bitwise the one-token product).
/// </summary>
public unsafe class QuantizedMatrixTests
{
    static readonly int[] RowCounts = [1, 3, 7, 33];
    static readonly int[] TokenCounts = [1, 2, 3, 4, 5, 8, 17];

    static float[] Random(Random rng, int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1))];

    static ushort Half(double v) => BitConverter.HalfToUInt16Bits((Half)v);

    /// <summary>Random but valid blocks of a GGUF type: fp16 factors small and finite, every other byte random.</summary>
    static byte[] RandomBlocks(Random rng, TensorDType type, int rows, int cols)
    {
        var (weights, bytes) = RawTensor.Block(type);
        var data = new byte[rows * cols / weights * bytes];
        rng.NextBytes(data);
        for (int b = 0; b < data.Length / bytes; b++)
        {
            Span<byte> block = data.AsSpan(b * bytes, bytes);
            switch (type)
            {
                case TensorDType.Q8_0:
                    BitConverter.TryWriteBytes(block, Half(rng.NextDouble() * 0.1));
                    block[2] = 0x80; // -128: the one value whose magnitude needs all 8 bits
                    break;
                case TensorDType.Q4_0:
                    BitConverter.TryWriteBytes(block, Half(rng.NextDouble() * 0.1));
                    break;
                case TensorDType.Q4_K:
                    BitConverter.TryWriteBytes(block, Half(rng.NextDouble() * 0.01));
                    BitConverter.TryWriteBytes(block[2..], Half(rng.NextDouble() * 0.01));
                    break;
                case TensorDType.Q6_K:
                    BitConverter.TryWriteBytes(block[208..], Half(rng.NextDouble() * 0.001));
                    break;
            }
        }
        return data;
    }

    static WeightMatrix FromBlocks(byte[] data, TensorDType type, int rows, int cols)
    {
        fixed (byte* p = data)
            return WeightMatrix.Create(new RawTensor("w", type, [rows, cols], p), type switch
            {
                TensorDType.Q8_0 => WeightFormat.Q8,
                TensorDType.Q6_K => WeightFormat.Q6K,
                _ => WeightFormat.Q4,
            });
    }

    /// <summary>x quantized per block of 32 as Q8_0 does (scale max|x| / 127, round half away from zero), widened back.</summary>
    static double[] QuantizedActivationsOf(float[] x, int cols)
    {
        var q = new double[x.Length];
        for (int start = 0; start < x.Length; start += 32)
        {
            float max = 0;
            for (int i = 0; i < 32; i++) max = Math.Max(max, Math.Abs(x[start + i]));
            float d = max / 127f, inverse = d == 0 ? 0 : 1 / d;
            for (int i = 0; i < 32; i++) q[start + i] = (double)d * Math.Round(x[start + i] * inverse, MidpointRounding.AwayFromZero);
        }
        return q;
    }

    static void AssertMatchesQuantizedReference(WeightMatrix m, float[] x, int tokens, string what)
    {
        var fast = new float[tokens * m.Rows];
        m.MatMul(x, fast, tokens);
        double[] xq = QuantizedActivationsOf(x, m.Cols);
        var row = new float[m.Cols];
        for (int r = 0; r < m.Rows; r++)
        {
            m.ReadRow(r, row);
            for (int t = 0; t < tokens; t++)
            {
                double sum = 0, scale = 0;
                for (int c = 0; c < m.Cols; c++)
                {
                    sum += row[c] * xq[t * m.Cols + c];
                    scale += Math.Abs(row[c] * xq[t * m.Cols + c]);
                }
                double got = fast[t * m.Rows + r];
                if (!(Math.Abs(got - sum) <= 1e-5 * scale + 1e-30))
                    Assert.Fail($"{what}: row {r} token {t}: expected {sum}, got {got} (scale {scale})");
            }
        }
    }

    [Theory]
    [InlineData("Q8_0", 32)]
    [InlineData("Q8_0", 96)]
    [InlineData("Q8_0", 4096)]
    [InlineData("Q4_0", 32)]
    [InlineData("Q4_0", 96)]
    [InlineData("Q4_0", 288)]
    [InlineData("Q4_K", 256)]
    [InlineData("Q4_K", 512)]
    [InlineData("Q6_K", 256)]
    [InlineData("Q6_K", 768)]
    public void FileBlocksComputeTheirWeightsOnQuantizedActivations(string typeName, int cols)
    {
        var type = Enum.Parse<TensorDType>(typeName);
        var rng = new Random(cols + (int)type);
        foreach (int rows in RowCounts)
        {
            using WeightMatrix m = FromBlocks(RandomBlocks(rng, type, rows, cols), type, rows, cols);
            foreach (int tokens in TokenCounts)
                AssertMatchesQuantizedReference(m, Random(rng, tokens * cols), tokens, $"{type} [{rows}x{cols}] T={tokens}");
        }
    }

    [Theory]
    [InlineData(WeightFormat.Q8)]
    [InlineData(WeightFormat.Q4)]
    public void QuantizedFromFloatsComputesItsWeights(WeightFormat format)
    {
        var rng = new Random(4);
        foreach (int rows in RowCounts)
            foreach (int cols in new[] { 32, 64, 96, 256 })
            {
                using WeightMatrix m = WeightMatrix.FromArray(Random(rng, rows * cols), rows, cols, format);
                Assert.Equal(format, m.Format);
                foreach (int tokens in TokenCounts)
                    AssertMatchesQuantizedReference(m, Random(rng, tokens * cols), tokens, $"{format} [{rows}x{cols}] T={tokens}");
            }
    }

    /// <summary>Large enough to pass the parallel threshold, so that threads split the rows.</summary>
    [Theory]
    [InlineData(WeightFormat.Q8)]
    [InlineData(WeightFormat.Q4)]
    public void LargeMatrixSplitsOverThreadsAndTokenBlocks(WeightFormat format)
    {
        var rng = new Random(3);
        const int rows = 37, cols = 4096;
        using WeightMatrix m = WeightMatrix.FromArray(Random(rng, rows * cols), rows, cols, format);
        foreach (int tokens in new[] { 1, 6, 33 })
            AssertMatchesQuantizedReference(m, Random(rng, tokens * cols), tokens, $"{format} [{rows}x{cols}] T={tokens}");
    }

    /// <summary>Against float activations the difference is the activations' rounding: at most half a step
    /// (max|x_block| / 254) per value, times the weight.</summary>
    [Fact]
    public void QuantizedActivationsStayWithinTheirRoundingOfTheFloatProduct()
    {
        var rng = new Random(5);
        const int rows = 19, cols = 512, tokens = 6;
        using WeightMatrix m = FromBlocks(RandomBlocks(rng, TensorDType.Q4_K, rows, cols), TensorDType.Q4_K, rows, cols);
        float[] x = Random(rng, tokens * cols);
        float[] fast = new float[tokens * rows], reference = new float[tokens * rows];
        m.MatMul(x, fast, tokens);
        m.MatMulReference(x, reference, tokens);
        var row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            m.ReadRow(r, row);
            for (int t = 0; t < tokens; t++)
            {
                double bound = 1e-6;
                for (int b = 0; b < cols / 32; b++)
                {
                    double step = Enumerable.Range(0, 32).Max(i => Math.Abs(x[t * cols + b * 32 + i])) / 254;
                    for (int i = 0; i < 32; i++) bound += Math.Abs(row[b * 32 + i]) * step;
                }
                Assert.True(Math.Abs(fast[t * rows + r] - reference[t * rows + r]) <= bound, $"row {r} token {t}");
            }
        }
    }

    [Theory]
    [InlineData("Q8_0", 4096)]
    [InlineData("Q4_0", 4096)]
    [InlineData("Q4_K", 768)]
    [InlineData("Q6_K", 4096)]
    public void RowTOfATokenBatchIsBitwiseThatTokensOneTokenProduct(string typeName, int cols)
    {
        var type = Enum.Parse<TensorDType>(typeName);
        var rng = new Random(7);
        const int rows = 37;
        using WeightMatrix m = FromBlocks(RandomBlocks(rng, type, rows, cols), type, rows, cols);
        float[] x = Random(rng, 33 * cols);
        var one = new float[33 * rows];
        for (int t = 0; t < 33; t++) m.MatMul(x.AsSpan(t * cols, cols), one.AsSpan(t * rows, rows), 1);
        foreach (int tokens in new[] { 2, 3, 4, 5, 7, 8, 16, 33 })
        {
            var y = new float[tokens * rows];
            m.MatMul(x.AsSpan(0, tokens * cols), y, tokens);
            Assert.True(y.AsSpan().SequenceEqual(one.AsSpan(0, tokens * rows)), $"{type} [{rows}x{cols}] T={tokens}");
        }
    }

    /// <summary>The vector quantizer of activations writes the records of the scalar one, ties included (a block whose
    /// max is 127 has scale 1, so x.5 values are exact ties), zero blocks and tiny values; the padding blocks of a
    /// record are zero whatever the buffer held (pooled buffers are reused).</summary>
    [Theory]
    [InlineData(96)]
    [InlineData(320)]
    public void ActivationRecordsMatchTheScalarQuantizer(int cols)
    {
        var rng = new Random(12);
        const int tokens = 5;
        float[] x = Random(rng, tokens * cols);
        for (int i = 0; i < 32; i++) x[i] = i == 0 ? 127 : (float)(Math.Round(rng.NextDouble() * 254 - 127) + 0.5 * (i % 2));
        for (int i = 32; i < 64; i++) x[i] = 0;
        for (int i = 64; i < 96; i++) x[i] *= 1e-30f;
        int stride = QuantizedActivations.Stride(cols);
        var fast = new float[tokens * stride];
        var reference = new float[tokens * stride];
        Array.Fill(fast, float.NaN);
        fixed (float* px = x, pf = fast, pr = reference)
        {
            QuantizedActivations.Quantize(px, tokens, cols, pf);
            QuantizedActivations.QuantizeReference(px, tokens, cols, pr);
        }
        Assert.Equal(reference.Select(BitConverter.SingleToInt32Bits), fast.Select(BitConverter.SingleToInt32Bits));
        int blocks = cols / 32, blocks8 = QuantizedActivations.Blocks8(cols);
        Assert.True(blocks8 > blocks);
        fixed (float* pf = fast)
            for (int t = 0; t < tokens; t++)
                for (int b = blocks; b < blocks8; b++)
                {
                    float* rec = pf + t * stride;
                    Assert.Equal(0, QuantizedActivations.Dx(rec)[b]);
                    Assert.Equal(0, QuantizedActivations.Sums(rec, blocks8)[b]);
                }
    }

    /// <summary>The row-group formats compute every sum with exact integers per block and one fused multiply-add per
    /// block: each instruction set this machine runs gives bitwise the scalar reference's products, so every machine
    /// computes the same logits. Rows around the group size of 16, blocks odd and even.</summary>
    [Theory]
    [InlineData("Q8_0")]
    [InlineData("Q4_0")]
    public void EveryInstructionSetGivesTheReferenceBits(string typeName)
    {
        var type = Enum.Parse<TensorDType>(typeName);
        var rng = new Random(11);
        RowGroupIsa[] isas = RowGroupMatMul.Best switch
        {
            RowGroupIsa.Avx512 => [RowGroupIsa.Avx2, RowGroupIsa.Avx512],
            RowGroupIsa.Avx2 => [RowGroupIsa.Avx2],
            _ => [], // no AVX2 here: the portable path is the only one
        };
        foreach (int rows in new[] { 1, 15, 16, 17, 40 })
            foreach (int cols in new[] { 32, 96, 2048 })
            {
                using WeightMatrix m = FromBlocks(RandomBlocks(rng, type, rows, cols), type, rows, cols);
                foreach (int tokens in new[] { 1, 2, 3, 4, 6, 9 })
                {
                    float[] x = Random(rng, tokens * cols);
                    var expected = new float[tokens * rows];
                    MatMul(m, x, expected, tokens, RowGroupIsa.Portable);
                    foreach (RowGroupIsa isa in isas)
                    {
                        var y = new float[tokens * rows];
                        MatMul(m, x, y, tokens, isa);
                        Assert.True(y.AsSpan().SequenceEqual(expected), $"{type} [{rows}x{cols}] T={tokens} {isa}");
                    }
                }
            }
    }

    static void MatMul(WeightMatrix m, float[] x, float[] y, int tokens, RowGroupIsa isa)
    {
        switch (m)
        {
            case Q8Matrix q8: q8.MatMul(x, y, tokens, isa); break;
            case Q4Matrix q4: q4.MatMul(x, y, tokens, isa); break;
            default: throw new ArgumentException(m.GetType().Name);
        }
    }

    /// <summary>The layouts, decoded by hand for one block: Q4_0's nibbles (low = first 16 columns), Q4_K's packed
    /// 6-bit scales and mins, Q6_K's split low and high bits.</summary>
    [Fact]
    public void BlocksDecodeAsGgufDefinesThem()
    {
        var q40 = new byte[18];
        BitConverter.TryWriteBytes(q40, Half(0.5));
        for (int i = 0; i < 16; i++) q40[2 + i] = (byte)(i | ((15 - i) << 4));
        using (var m = FromBlocks(q40, TensorDType.Q4_0, 1, 32))
        {
            var w = new float[32];
            m.ReadRow(0, w);
            for (int i = 0; i < 16; i++)
            {
                Assert.Equal(0.5f * (i - 8), w[i]);
                Assert.Equal(0.5f * (15 - i - 8), w[16 + i]);
            }
        }

        var q4k = new byte[144];
        BitConverter.TryWriteBytes(q4k, Half(0.25));
        BitConverter.TryWriteBytes(q4k.AsSpan(2), Half(0.125));
        // scales/mins: block 1 scale 5 min 3; block 5 scale 0b110101 = 53 (low 4 bits in byte 9, high 2 in byte 1's top bits), min 2.
        q4k[4 + 1] = 5 | (53 >> 4) << 6;
        q4k[4 + 5] = 3;
        q4k[4 + 9] = (53 & 0x0F) | (2 << 4);
        for (int i = 0; i < 32; i++) q4k[16 + i] = 0x70;       // blocks 0 (low nibbles: 0) and 1 (high: 7)
        for (int i = 0; i < 32; i++) q4k[16 + 64 + i] = 0x0B;  // blocks 4 (low: 11) and 5 (high: 0)
        using (var m = FromBlocks(q4k, TensorDType.Q4_K, 1, 256))
        {
            var w = new float[256];
            m.ReadRow(0, w);
            Assert.Equal(0.25f * 5 * 7 - 0.125f * 3, w[32]);
            Assert.Equal(0.25f * 53 * 0 - 0.125f * 2, w[5 * 32 + 3]);
            Assert.Equal(0f, w[0]); // block 0: scale 0, min 0
        }

        var q6k = new byte[210];
        BitConverter.TryWriteBytes(q6k.AsSpan(208), Half(0.5));
        for (int j = 0; j < 16; j++) q6k[192 + j] = (byte)(sbyte)(j - 8);
        q6k[0] = 0x21;           // weight 0 low 1, weight 64 low 2
        q6k[128] = 0b11_10_01_00; // high bits: weight 0: 0, weight 32: 1, weight 64: 2, weight 96: 3
        using (var m = FromBlocks(q6k, TensorDType.Q6_K, 1, 256))
        {
            var w = new float[256];
            m.ReadRow(0, w);
            Assert.Equal(0.5f * -8 * (1 - 32), w[0]);             // scale of weights 0-15: j = 0
            Assert.Equal(0.5f * -6 * ((1 << 4) - 32), w[32]);     // weights 32-47: j = 2
            Assert.Equal(0.5f * -4 * (2 + (2 << 4) - 32), w[64]); // weights 64-79: j = 4
            Assert.Equal(0.5f * -2 * ((3 << 4) - 32), w[96]);     // weights 96-111: j = 6
        }
    }

    [Fact]
    public void Q4RejectsColumnsNotAMultipleOf32NamingTheTensor()
    {
        var data = new float[3 * 40];
        var e = Assert.Throws<ArgumentException>(() => WeightMatrix.FromArray(data, 3, 40, WeightFormat.Q4));
        Assert.Contains("40 columns, not a multiple of 32", e.Message);
    }
}
