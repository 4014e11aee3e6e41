using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics.X86;
using CtcDrafter.Model;

namespace CtcDrafter.Kernels;

/// <summary>Runtime storage format of weight matrices.</summary>
public enum WeightFormat
{
    /// <summary>32-bit floats (memory-mapped when the file holds F32).</summary>
    F32,
    /// <summary>bfloat16, widened to fp32 in registers.</summary>
    BF16,
    /// <summary>int8 with one fp32 scale per block of 32 weights.</summary>
    Q8,
    /// <summary>4-bit blocks of 32 weights with a scale and a min (GGUF Q4_0 and Q4_K), on int8 activations.</summary>
    Q4,
    /// <summary>GGUF Q6_K's 6-bit weights with a scale per 16, on int8 activations (a file's own format only).</summary>
    Q6K,
}

/// <summary>
/// A weight matrix W [Rows, Cols] (row-major, PyTorch Linear layout: out x in) in one runtime format.
/// The one operation the transformer needs is Y = X W^T for T tokens at once.
/// </summary>
internal abstract unsafe class WeightMatrix : IDisposable
{
    public int Rows { get; }
    public int Cols { get; }

    protected WeightMatrix(int rows, int cols)
    {
        Rows = rows;
        Cols = cols;
    }

    public abstract WeightFormat Format { get; }

    /// <summary>Bytes read from memory by one full pass over the matrix.</summary>
    public abstract long Bytes { get; }

    /// <summary>y[t, r] = sum_c W[r, c] * x[t, c] for t &lt; tokens. x: [tokens, Cols], y: [tokens, Rows].</summary>
    public abstract void MatMul(ReadOnlySpan<float> x, Span<float> y, int tokens);

    /// <summary>
    /// y0 = x W0^T, y1 = x W1^T and, with w2, y2 = x W2^T for matrices of one input x [tokens, Cols] (a layer's q, k
    /// and v; its gate and up): in one parallel call with x quantized once when they share a format and a column
    /// count, else one call each. Each output is bitwise what its matrix's own MatMul gives.
    /// </summary>
    public static void MatMulShared(ReadOnlySpan<float> x, int tokens, WeightMatrix w0, Span<float> y0, WeightMatrix w1, Span<float> y1,
        WeightMatrix? w2 = null, Span<float> y2 = default)
    {
        if (w0.TryMatMulShared(x, tokens, y0, w1, y1, w2, y2)) return;
        w0.MatMul(x, y0, tokens);
        w1.MatMul(x, y1, tokens);
        w2?.MatMul(x, y2, tokens);
    }

    /// <summary><see cref="MatMulShared"/> in one call, when w1 (and w2) are of this matrix's kind and columns; false
    /// to let each matrix run alone.</summary>
    protected virtual bool TryMatMulShared(ReadOnlySpan<float> x, int tokens, Span<float> y0, WeightMatrix w1, Span<float> y1,
        WeightMatrix? w2, Span<float> y2) => false;

    /// <summary>
    /// The reference kernel of every format: each row widened to fp32 by <see cref="ReadRow"/> and dotted with
    /// every token in double precision; the fast kernels are tested against it.
    /// </summary>
    public void MatMulReference(ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        CheckArguments(x, y, tokens);
        var row = new float[Cols];
        for (int r = 0; r < Rows; r++)
        {
            ReadRow(r, row);
            for (int t = 0; t < tokens; t++)
            {
                double sum = 0;
                for (int c = 0; c < Cols; c++) sum += (double)row[c] * x[t * Cols + c];
                y[t * Rows + r] = (float)sum;
            }
        }
    }

    /// <summary>Writes row r as fp32 into dst [Cols] (embedding lookup).</summary>
    public abstract void ReadRow(int r, Span<float> dst);

    public virtual void Dispose() { }

    /// <summary>Whether the AVX2/FMA kernels run; otherwise every format uses <see cref="MatMulPortable"/>.</summary>
    public static readonly bool HasAvx2Fma = Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// A weight matrix from a 2-D tensor [rows, cols]. An F32 tensor as F32 and a BF16 tensor as BF16 are views on the
    /// tensor's memory (no copy: it must outlive the matrix); every other combination is converted once into owned memory.
    /// Throws ArgumentException naming the tensor when it is not 2-D, or for Q8 and Q4 when cols is not a multiple of 32.
    /// Q6K takes Q6_K tensors only.
    /// </summary>
    public static WeightMatrix Create(in RawTensor src, WeightFormat format)
    {
        (int rows, int cols) = Shape2(src);
        return format switch
        {
            WeightFormat.F32 when src.DType == TensorDType.F32 => DenseMatrix<F32Row>.View(src.Data, rows, cols),
            WeightFormat.F32 => DenseMatrix<F32Row>.Copy(src),
            WeightFormat.BF16 when src.DType == TensorDType.BF16 => DenseMatrix<Bf16Row>.View(src.Data, rows, cols),
            WeightFormat.BF16 => DenseMatrix<Bf16Row>.Copy(src),
            WeightFormat.Q8 when src.DType == TensorDType.Q8_0 => Q8Matrix.FromQ8_0(src),
            WeightFormat.Q8 => Q8Matrix.Quantize(src),
            WeightFormat.Q4 when src.DType == TensorDType.Q4_0 => Q4Matrix.FromQ4_0(src),
            WeightFormat.Q4 when src.DType == TensorDType.Q4_K => Q4KMatrix.FromQ4_K(src),
            WeightFormat.Q4 => Q4Matrix.Quantize(src),
            WeightFormat.Q6K when src.DType == TensorDType.Q6_K => Q6KMatrix.FromQ6_K(src),
            WeightFormat.Q6K => throw new ArgumentException($"Tensor '{src.Name}' is {src.DType}: the Q6K format holds Q6_K tensors only.", nameof(src)),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
        };
    }

    /// <summary>A matrix owning a copy of data [rows, cols] in the given format.</summary>
    public static WeightMatrix FromArray(float[] data, int rows, int cols, WeightFormat format)
    {
        ArgumentNullException.ThrowIfNull(data);
        if ((long)rows * cols != data.Length)
            throw new ArgumentException($"{data.Length} values cannot form a [{rows}, {cols}] matrix.", nameof(data));
        fixed (float* p = data)
        {
            var src = new RawTensor("array", TensorDType.F32, [rows, cols], (byte*)p);
            return format == WeightFormat.F32 ? DenseMatrix<F32Row>.Copy(src) : Create(src, format);
        }
    }

    protected static (int Rows, int Cols) Shape2(in RawTensor src)
    {
        if (src.Shape.Length != 2 || src.Shape[0] <= 0 || src.Shape[1] <= 0)
            throw new ArgumentException(
                $"Tensor '{src.Name}' has shape [{string.Join(", ", src.Shape)}]: a weight matrix must be 2-D and non-empty.", nameof(src));
        return (src.Shape[0], src.Shape[1]);
    }

    protected void CheckArguments(ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        if (x.Length < (long)tokens * Cols)
            throw new ArgumentException($"x holds {x.Length} values, fewer than {tokens} tokens x {Cols}.", nameof(x));
        if (y.Length < (long)tokens * Rows)
            throw new ArgumentException($"y holds {y.Length} values, fewer than {tokens} tokens x {Rows}.", nameof(y));
    }

    /// <summary>y = x W^T through a format's register tiles, or <see cref="MatMulPortable"/> without AVX2/FMA.</summary>
    protected void MatMulTiled<TKernel>(in TKernel kernel, ReadOnlySpan<float> x, Span<float> y, int tokens) where TKernel : struct, IRowKernel
    {
        CheckArguments(x, y, tokens);
        if (!HasAvx2Fma)
        {
            MatMulPortable(x, y, tokens);
            return;
        }
        fixed (float* px = x, py = y)
            TiledMatMul.MatMul(kernel, px, py, tokens);
        GC.KeepAlive(this);
    }

    /// <summary>y = x W^T for a quantized format: x quantized per token (<see cref="QuantizedActivations"/>), then the
    /// integer tiles (512-bit where AVX-512 runs and the row has an even number of blocks, else 256-bit; one choice
    /// per matrix for every T), or <see cref="MatMulPortable"/> without AVX2/FMA.</summary>
    protected void MatMulQuantized<TBlocks>(in TBlocks blocks, ReadOnlySpan<float> x, Span<float> y, int tokens) where TBlocks : struct, IIntBlocks
    {
        CheckArguments(x, y, tokens);
        if (!HasAvx2Fma)
        {
            MatMulPortable(x, y, tokens);
            return;
        }
        float[] records = QuantizedActivations.Rent(tokens, Cols);
        try
        {
            fixed (float* px = x, py = y, pr = records)
            {
                QuantizedActivations.Quantize(px, tokens, Cols, pr);
                if (IntBlockKernel512.Supported && Cols / QuantizedActivations.BlockSize % 2 == 0)
                    TiledMatMul.MatMul(new IntBlockKernel512<TBlocks>(blocks), pr, py, tokens);
                else
                    TiledMatMul.MatMul(new IntBlockKernel<TBlocks>(blocks), pr, py, tokens);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(records);
        }
        GC.KeepAlive(this);
    }

    /// <summary>y = x W^T for weights in row groups: x quantized per token (<see cref="QuantizedActivations"/>), then
    /// <see cref="RowGroupMatMul"/> on the given instruction set (every one gives the same bits).</summary>
    protected void MatMulRowGroups<TBlocks>(byte* weights, float* scales, ReadOnlySpan<float> x, Span<float> y, int tokens, RowGroupIsa isa)
        where TBlocks : IRowGroupBlocks
    {
        CheckArguments(x, y, tokens);
        float[] records = QuantizedActivations.Rent(tokens, Cols);
        try
        {
            fixed (float* px = x, py = y, pr = records)
            {
                QuantizedActivations.Quantize(px, tokens, Cols, pr);
                RowGroupMatMul.MatMul<TBlocks>(Cols, pr, tokens, isa, new RowGroupProduct(weights, scales, Rows, py));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(records);
        }
        GC.KeepAlive(this);
    }

    /// <summary>MatMul without x86 intrinsics: each row is widened to fp32 once and dotted with every token.</summary>
    internal void MatMulPortable(ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        CheckArguments(x, y, tokens);
        fixed (float* px = x, py = y)
        {
            var job = new PortableJob { Matrix = this, X = px, Y = py, Tokens = tokens };
            if ((long)Rows * Cols * tokens < TiledMatMul.ParallelThreshold) job.Run(0, Rows);
            else WorkerPool.Shared.For(Rows, 1, ref job);
        }
    }

    struct PortableJob : IChunkBody
    {
        public WeightMatrix Matrix;
        public float* X, Y;
        public int Tokens;

        public readonly void Run(int start, int end)
        {
            int rows = Matrix.Rows, cols = Matrix.Cols;
            float[] row = ArrayPool<float>.Shared.Rent(cols);
            try
            {
                for (int r = start; r < end; r++)
                {
                    Matrix.ReadRow(r, row);
                    for (int t = 0; t < Tokens; t++)
                        Y[(nint)t * rows + r] = Reduce.Dot(new ReadOnlySpan<float>(row, 0, cols), new ReadOnlySpan<float>(X + (nint)t * cols, cols));
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(row);
            }
        }
    }
}
