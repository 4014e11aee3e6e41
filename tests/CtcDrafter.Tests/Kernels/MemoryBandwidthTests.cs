using CtcDrafter.Kernels;

namespace CtcDrafter.Tests.Kernels;

public class MemoryBandwidthTests
{
    [Fact]
    public void ReturnsAPositiveRate()
    {
        double gbs = MemoryBandwidth.MeasureGBs(8 << 20, 2);
        Assert.True(gbs > 0.1 && double.IsFinite(gbs), $"{gbs} GB/s");
    }
}
