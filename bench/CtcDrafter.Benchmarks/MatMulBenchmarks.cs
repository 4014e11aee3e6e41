using BenchmarkDotNet.Attributes;
using CtcDrafter.Kernels;

namespace CtcDrafter.Benchmarks;

/// <summary>
/// One [5632 x 2048] weight matrix (a TinyLlama MLP projection) against T tokens. Each call uses the next of
/// several copies, together larger than the L3 cache, so the weights come from DRAM as in real decoding.
/// </summary>
public class MatMulBenchmarks
{
    public const int Rows = 5632, Cols = 2048;

    [Params(WeightFormat.F32, WeightFormat.BF16, WeightFormat.Q8)]
    public WeightFormat Format { get; set; }

    [Params(1, 4, 16)]
    public int Tokens { get; set; }

    WeightMatrices? _matrices;
    float[] _x = [], _y = [];

    [GlobalSetup]
    public void Setup()
    {
        _matrices = new WeightMatrices(Format, Rows, Cols);
        _x = WeightMatrices.RandomValues(new Random(2), Tokens * Cols);
        _y = new float[Tokens * Rows];
    }

    [Benchmark]
    public void MatMul() => _matrices!.Next().MatMul(_x, _y, Tokens);

    [GlobalCleanup]
    public void Cleanup() => _matrices?.Dispose();
}
