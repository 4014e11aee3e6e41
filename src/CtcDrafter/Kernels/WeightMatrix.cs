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

    /// <summary>Same result through the plain scalar loop; the fast kernel is tested against it.</summary>
    public abstract void MatMulReference(ReadOnlySpan<float> x, Span<float> y, int tokens);

    /// <summary>Writes row r as fp32 into dst [Cols] (embedding lookup).</summary>
    public abstract void ReadRow(int r, Span<float> dst);

    public virtual void Dispose() { }
}
