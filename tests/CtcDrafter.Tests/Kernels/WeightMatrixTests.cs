using CtcDrafter.Kernels;
using CtcDrafter.Model;

namespace CtcDrafter.Tests.Kernels;

public unsafe class WeightMatrixTests
{
    static readonly int[] RowCounts = [1, 3, 7, 33, 100];
    static readonly int[] DenseCols = [8, 9, 24, 31, 64, 100, 257];
    static readonly int[] TokenCounts = [1, 2, 3, 4, 5, 8, 16, 17, 33];

    static float[] Random(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    // sum_c |W[r, c] x[t, c]| for every (t, r): the scale of the rounding error of any summation order.
    static double[] AbsProducts(WeightMatrix m, float[] x, int tokens)
    {
        var bound = new double[tokens * m.Rows];
        var row = new float[m.Cols];
        for (int r = 0; r < m.Rows; r++)
        {
            m.ReadRow(r, row);
            for (int t = 0; t < tokens; t++)
                for (int c = 0; c < m.Cols; c++) bound[t * m.Rows + r] += Math.Abs((double)row[c] * x[t * m.Cols + c]);
        }
        return bound;
    }

    static void AssertClose(float[] expected, float[] actual, double[] tolerance, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tolerance[i] + 1e-30))
                Assert.Fail($"{what}: element {i}: expected {expected[i]}, got {actual[i]} (tolerance {tolerance[i]})");
    }

    static void AssertFastMatchesReference(WeightMatrix m, float[] x, int tokens, string what)
    {
        var fast = new float[tokens * m.Rows];
        var reference = new float[tokens * m.Rows];
        var portable = new float[tokens * m.Rows];
        m.MatMul(x, fast, tokens);
        m.MatMulReference(x, reference, tokens);
        m.MatMulPortable(x, portable, tokens);
        // Same weights, another summation order: relative 1e-5 of sum |w x|.
        double[] tolerance = AbsProducts(m, x, tokens).Select(b => 1e-5 * b).ToArray();
        AssertClose(reference, fast, tolerance, what);
        AssertClose(reference, portable, tolerance, what + " portable");
    }

    [Theory]
    [InlineData(WeightFormat.F32)]
    [InlineData(WeightFormat.BF16)]
    public void DenseFastMatchesReference(WeightFormat format)
    {
        var rng = new Random(1);
        foreach (int rows in RowCounts)
            foreach (int cols in DenseCols)
            {
                using WeightMatrix m = WeightMatrix.FromArray(Random(rng, rows * cols), rows, cols, format);
                foreach (int tokens in TokenCounts)
                    AssertFastMatchesReference(m, Random(rng, tokens * cols), tokens, $"{format} [{rows}x{cols}] T={tokens}");
            }
    }

    [Theory]
    [InlineData(WeightFormat.F32, 9)]
    [InlineData(WeightFormat.F32, 24)]
    [InlineData(WeightFormat.F32, 100)]
    [InlineData(WeightFormat.BF16, 31)]
    [InlineData(WeightFormat.BF16, 40)]
    [InlineData(WeightFormat.BF16, 257)]
    [InlineData(WeightFormat.Q8, 96)]
    [InlineData(WeightFormat.Q8, 4096)]
    public void RowTOfATokenBatchIsBitwiseThatTokensOneTokenProduct(WeightFormat format, int cols)
    {
        // The lossless rule: verification (T tokens) and plain decoding (one) compute every sum the same way.
        var rng = new Random(7);
        const int rows = 37;
        using WeightMatrix m = WeightMatrix.FromArray(Random(rng, rows * cols), rows, cols, format);
        float[] x = Random(rng, 33 * cols);
        var one = new float[33 * rows];
        var onePortable = new float[33 * rows];
        for (int t = 0; t < 33; t++)
        {
            m.MatMul(x.AsSpan(t * cols, cols), one.AsSpan(t * rows, rows), 1);
            m.MatMulPortable(x.AsSpan(t * cols, cols), onePortable.AsSpan(t * rows, rows), 1);
        }
        for (int tokens = 1; tokens <= 33; tokens++)
        {
            var y = new float[tokens * rows];
            m.MatMul(x.AsSpan(0, tokens * cols), y, tokens);
            Assert.True(y.AsSpan().SequenceEqual(one.AsSpan(0, tokens * rows)), $"{format} [{rows}x{cols}] T={tokens}");
            m.MatMulPortable(x.AsSpan(0, tokens * cols), y, tokens);
            Assert.True(y.AsSpan().SequenceEqual(onePortable.AsSpan(0, tokens * rows)), $"{format} [{rows}x{cols}] T={tokens} portable");
        }
    }

    [Theory]
    [InlineData(WeightFormat.F32, 96)]
    [InlineData(WeightFormat.F32, 1024)]
    [InlineData(WeightFormat.BF16, 100)]
    [InlineData(WeightFormat.BF16, 1024)]
    [InlineData(WeightFormat.Q8, 96)]
    [InlineData(WeightFormat.Q8, 1024)]
    [InlineData(WeightFormat.Q4, 96)]
    [InlineData(WeightFormat.Q4, 1024)]
    public void SharedInputProductsAreBitwiseEachMatricesOwn(WeightFormat format, int cols)
    {
        // A layer's q, k and v (and its gate and up) run in one call: every output must be its matrix's own product,
        // for two and three matrices, rows that are not multiples of a tile or a row group, below and above the
        // parallel threshold, and a second format that makes the matrices run one by one.
        var rng = new Random(11);
        int[] rows = [40, 24, 17];
        WeightMatrix[] m = rows.Select(r => WeightMatrix.FromArray(Random(rng, r * cols), r, cols, format)).ToArray();
        using WeightMatrix other = WeightMatrix.FromArray(Random(rng, 17 * cols), 17, cols, format == WeightFormat.F32 ? WeightFormat.BF16 : WeightFormat.F32);
        try
        {
            foreach (int tokens in new[] { 1, 2, 5, 8, 9 })
            {
                float[] x = Random(rng, tokens * cols);
                float[][] alone = m.Append(other).Select(w =>
                {
                    var y = new float[tokens * w.Rows];
                    w.MatMul(x, y, tokens);
                    return y;
                }).ToArray();
                float[][] shared = rows.Select(r => new float[tokens * r]).ToArray();
                WeightMatrix.MatMulShared(x, tokens, m[0], shared[0], m[1], shared[1], m[2], shared[2]);
                for (int i = 0; i < 3; i++) Assert.True(shared[i].SequenceEqual(alone[i]), $"{format} cols {cols} T={tokens}: matrix {i} of 3");
                var two = new float[tokens * rows[1]];
                WeightMatrix.MatMulShared(x, tokens, m[0], shared[0], m[1], two);
                Assert.True(shared[0].SequenceEqual(alone[0]) && two.SequenceEqual(alone[1]), $"{format} cols {cols} T={tokens}: two matrices");
                var mixed = new float[tokens * 17];
                WeightMatrix.MatMulShared(x, tokens, m[0], shared[0], other, mixed);
                Assert.True(shared[0].SequenceEqual(alone[0]) && mixed.SequenceEqual(alone[3]), $"{format} cols {cols} T={tokens}: another format");
            }
        }
        finally
        {
            foreach (WeightMatrix w in m) w.Dispose();
        }
    }

    [Theory]
    [InlineData(WeightFormat.F32, 37, 4100)]
    [InlineData(WeightFormat.BF16, 37, 4100)]
    public void LargeMatrixSplitsOverThreadsAndTokenBlocks(WeightFormat format, int rows, int cols)
    {
        // 4096+ columns make blocks of 16 tokens, so 33 tokens take three blocks; the size passes the parallel threshold.
        var rng = new Random(3);
        using WeightMatrix m = WeightMatrix.FromArray(Random(rng, rows * cols), rows, cols, format);
        foreach (int tokens in new[] { 1, 6, 33 })
            AssertFastMatchesReference(m, Random(rng, tokens * cols), tokens, $"{format} [{rows}x{cols}] T={tokens}");
    }

    [Fact]
    public void Bf16MatMulMatchesF32WithinBf16Rounding()
    {
        // Narrowing moves each weight by at most 2^-9 of its magnitude, so |y_bf16 - y_f32| <= 2^-9 sum |w x| (+ fp32 sums).
        var rng = new Random(4);
        const int rows = 33, cols = 257, tokens = 5;
        float[] w = Random(rng, rows * cols), x = Random(rng, tokens * cols);
        using WeightMatrix f32 = WeightMatrix.FromArray(w, rows, cols, WeightFormat.F32);
        using WeightMatrix bf16 = WeightMatrix.FromArray(w, rows, cols, WeightFormat.BF16);
        var y32 = new float[tokens * rows];
        var y16 = new float[tokens * rows];
        f32.MatMul(x, y32, tokens);
        bf16.MatMul(x, y16, tokens);
        double[] tolerance = AbsProducts(f32, x, tokens).Select(b => (Math.Pow(2, -9) + 2e-5) * b).ToArray();
        AssertClose(y32, y16, tolerance, "bf16 vs f32");
    }

    [Fact]
    public void Q8MatMulMatchesF32WithinQuantisationError()
    {
        // Each weight moves by at most half a step, max|w_block| / 254, and so does each activation (Q8 computes on
        // activations quantized by the same rule), so |y_q8 - y_f32| <= sum over blocks of max|w_block| / 254 *
        // sum_block |x| + max|x_block| / 254 * sum_block |w| (first order; + 1e-5 sum |w x| for the fp32 sums).
        var rng = new Random(5);
        const int rows = 33, cols = 256, tokens = 5;
        float[] w = Random(rng, rows * cols), x = Random(rng, tokens * cols);
        using WeightMatrix f32 = WeightMatrix.FromArray(w, rows, cols, WeightFormat.F32);
        using WeightMatrix q8 = WeightMatrix.FromArray(w, rows, cols, WeightFormat.Q8);
        var y32 = new float[tokens * rows];
        var y8 = new float[tokens * rows];
        f32.MatMul(x, y32, tokens);
        q8.MatMul(x, y8, tokens);
        double[] tolerance = AbsProducts(f32, x, tokens).Select(b => 1e-5 * b).ToArray();
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
                for (int b = 0; b < cols / 32; b++)
                {
                    double maxW = 0, sumX = 0, maxX = 0, sumW = 0;
                    for (int c = b * 32; c < b * 32 + 32; c++)
                    {
                        maxW = Math.Max(maxW, Math.Abs(w[r * cols + c]));
                        sumX += Math.Abs(x[t * cols + c]);
                        maxX = Math.Max(maxX, Math.Abs(x[t * cols + c]));
                        sumW += Math.Abs(w[r * cols + c]);
                    }
                    tolerance[t * rows + r] += (maxW / 254 * sumX + maxX / 254 * sumW) * (1 + 1e-2);
                }
        AssertClose(y32, y8, tolerance, "q8 vs f32");
    }

    [Fact]
    public void Q8BlockScalesAndRounding()
    {
        var rng = new Random(6);
        const int rows = 3, cols = 96;
        float[] w = Random(rng, rows * cols);
        for (int c = 32; c < 64; c++) w[cols + c] = 0; // an all-zero block of row 1
        using var m = (Q8Matrix)WeightMatrix.FromArray(w, rows, cols, WeightFormat.Q8);
        Assert.Equal(16 * (cols + 3 * 4), m.Bytes); // one group of 16 rows, 13 of them zero padding
        var row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            m.ReadRow(r, row);
            for (int b = 0; b < 3; b++)
            {
                float max = 0;
                for (int c = b * 32; c < b * 32 + 32; c++) max = Math.Max(max, Math.Abs(w[r * cols + c]));
                float scale = m.Scale(r, b);
                Assert.Equal(max / 127f, scale);
                for (int c = b * 32; c < b * 32 + 32; c++)
                {
                    float expected = scale == 0 ? 0 : MathF.Round(w[r * cols + c] / scale);
                    Assert.Equal(expected, m.Quant(r, c));
                    Assert.True(Math.Abs(row[c] - w[r * cols + c]) <= scale / 2 * (1 + 1e-6));
                }
            }
        }
        Assert.Equal(0f, m.Scale(1, 1));
    }

    [Fact]
    public void Q8RejectsColumnsNotAMultipleOf32NamingTheTensor()
    {
        float[] w = new float[2 * 40];
        fixed (float* p = w)
        {
            var t = new RawTensor("layers.0.mlp.up_proj.weight", TensorDType.F32, [2, 40], (byte*)p);
            var e = Assert.Throws<ArgumentException>(() => WeightMatrix.Create(t, WeightFormat.Q8));
            Assert.Contains("layers.0.mlp.up_proj.weight", e.Message);
        }
    }

    [Fact]
    public void CreateRejectsTensorsThatAreNot2D()
    {
        float[] w = new float[8];
        fixed (float* p = w)
        {
            var t = new RawTensor("norm.weight", TensorDType.F32, [8], (byte*)p);
            var e = Assert.Throws<ArgumentException>(() => WeightMatrix.Create(t, WeightFormat.F32));
            Assert.Contains("norm.weight", e.Message);
        }
    }

    [Fact]
    public void MatchingFormatsAreViewsOnTheTensorMemory()
    {
        float[] f = [1, 2, 3, 4, 5, 6];
        ushort[] h = [0x3F80, 0x4000, 0x4040, 0x4080, 0x40A0, 0x40C0];
        var row = new float[3];
        fixed (float* pf = f)
        fixed (ushort* ph = h)
        {
            using var mf = WeightMatrix.Create(new RawTensor("f", TensorDType.F32, [2, 3], (byte*)pf), WeightFormat.F32);
            using var mh = WeightMatrix.Create(new RawTensor("h", TensorDType.BF16, [2, 3], (byte*)ph), WeightFormat.BF16);
            f[4] = 50;
            h[4] = 0x4248; // 50 in bf16
            mf.ReadRow(1, row);
            Assert.Equal([4f, 50f, 6f], row);
            mh.ReadRow(1, row);
            Assert.Equal([4f, 50f, 6f], row);
        }
    }

    [Fact]
    public void ConvertsEverySourceDTypeToEveryFormat()
    {
        // Values exact in f16, bf16 and q8 (a block whose max is 127 gives scale 1).
        float[] values = Enumerable.Range(0, 64).Select(i => (float)(i * 2 - 63)).ToArray();
        values[0] = 127;
        values[32] = -127;
        ushort[] f16 = values.Select(v => BitConverter.HalfToUInt16Bits((Half)v)).ToArray();
        ushort[] bf16 = values.Select(Conversions.F32ToBf16).ToArray();
        var row = new float[32];
        fixed (float* pf = values)
        fixed (ushort* ph = f16, pb = bf16)
        {
            var sources = new[]
            {
                new RawTensor("f32", TensorDType.F32, [2, 32], (byte*)pf),
                new RawTensor("f16", TensorDType.F16, [2, 32], (byte*)ph),
                new RawTensor("bf16", TensorDType.BF16, [2, 32], (byte*)pb),
            };
            foreach (RawTensor src in sources)
                foreach (WeightFormat format in new[] { WeightFormat.F32, WeightFormat.BF16, WeightFormat.Q8 }) // Q4 is lossy; Q6K is read only
                {
                    using var m = WeightMatrix.Create(src, format);
                    Assert.Equal(format, m.Format);
                    Assert.Equal((2, 32), (m.Rows, m.Cols));
                    for (int r = 0; r < 2; r++)
                    {
                        m.ReadRow(r, row);
                        Assert.Equal(values.AsSpan(r * 32, 32).ToArray(), row);
                    }
                }
        }
    }

    [Fact]
    public void Bf16NarrowingRoundsToNearestEven()
    {
        for (int bits = 0; bits < 0x10000; bits++)
        {
            float v = Conversions.Bf16ToF32((ushort)bits);
            if (float.IsNaN(v)) Assert.True(float.IsNaN(Conversions.Bf16ToF32(Conversions.F32ToBf16(v))));
            else Assert.Equal((ushort)bits, Conversions.F32ToBf16(v));
        }
        Assert.Equal(0x3F80, Conversions.F32ToBf16(1 + MathF.Pow(2, -8)));          // tie: down to even
        Assert.Equal(0x3F82, Conversions.F32ToBf16(1 + 3 * MathF.Pow(2, -8)));      // tie: up to even
        Assert.Equal(0x3F81, Conversions.F32ToBf16(1 + MathF.Pow(2, -8) + MathF.Pow(2, -20))); // above the tie
        Assert.Equal(0xBF80, Conversions.F32ToBf16(-1 - MathF.Pow(2, -9)));
        Assert.Equal(0x7F80, Conversions.F32ToBf16(float.MaxValue));                // rounds to +inf
    }

    [Fact]
    public void F16DecodesKnownValues()
    {
        Assert.Equal(1f, Conversions.F16ToF32(0x3C00));
        Assert.Equal(-2f, Conversions.F16ToF32(0xC000));
        Assert.Equal(65504f, Conversions.F16ToF32(0x7BFF));
        Assert.Equal(MathF.Pow(2, -24), Conversions.F16ToF32(0x0001));
        Assert.Equal(0.333251953125f, Conversions.F16ToF32(0x3555));
        Assert.Equal(float.PositiveInfinity, Conversions.F16ToF32(0x7C00));
        Assert.True(float.IsNaN(Conversions.F16ToF32(0x7E00)));
        Assert.Equal(-0f, Conversions.F16ToF32(0x8000));
        Assert.True(float.IsNegative(Conversions.F16ToF32(0x8000)));
    }

    [Fact]
    public void MatMulChecksSpanLengths()
    {
        using var m = WeightMatrix.FromArray(new float[6], 2, 3, WeightFormat.F32);
        Assert.Throws<ArgumentException>(() => m.MatMul(new float[5], new float[4], 2));
        Assert.Throws<ArgumentException>(() => m.MatMul(new float[6], new float[3], 2));
    }
}
