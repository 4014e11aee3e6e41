using CtcDrafter.Kernels;

namespace CtcDrafter.Benchmarks;

/// <summary>Copies of one random matrix whose total size is several times the 32 MiB L3, used round-robin.</summary>
internal sealed class WeightMatrices : IDisposable
{
    const long TotalBytes = 128L << 20;

    readonly WeightMatrix[] _copies;
    int _next;

    public WeightMatrices(WeightFormat format, int rows, int cols)
    {
        float[] w = RandomValues(new Random(1), rows * cols);
        var first = WeightMatrix.FromArray(w, rows, cols, format);
        int count = (int)Math.Max(2, (TotalBytes + first.Bytes - 1) / first.Bytes);
        _copies = new WeightMatrix[count];
        _copies[0] = first;
        for (int i = 1; i < count; i++) _copies[i] = WeightMatrix.FromArray(w, rows, cols, format);
    }

    public long Bytes => _copies[0].Bytes;

    public WeightMatrix Next()
    {
        WeightMatrix m = _copies[_next];
        _next = (_next + 1) % _copies.Length;
        return m;
    }

    public static float[] RandomValues(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = rng.NextSingle() * 2 - 1;
        return a;
    }

    public void Dispose()
    {
        foreach (WeightMatrix m in _copies) m.Dispose();
    }
}
