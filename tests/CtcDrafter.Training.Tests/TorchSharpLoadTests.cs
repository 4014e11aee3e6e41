using static TorchSharp.torch;

namespace CtcDrafter.Training.Tests;

public class TorchSharpLoadTests
{
    [Fact]
    public void NativeLibraryLoadsAndComputes()
    {
        // Fails with a TypeInitializationException when the GLIBCXX_3.4.32 need of libLibTorchSharp.so was not
        // made weak by build/TorchSharpGlibcxx.targets on a system with an older libstdc++.
        using var a = ones(3, 4);
        using var b = ones(4, 2);
        using var c = a.matmul(b);
        Assert.Equal(4f, c[0, 0].item<float>());
    }
}
