using System.Runtime.InteropServices;

namespace CtcDrafter.Kernels;

/// <summary>64-byte aligned native memory owned by a weight matrix; freed on Dispose or, failing that, by the finalizer.</summary>
internal sealed unsafe class NativeBuffer : IDisposable
{
    public const int Alignment = 64;

    public byte* Pointer { get; private set; }
    public long Bytes { get; }

    public NativeBuffer(long bytes, bool zeroed = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Bytes = bytes;
        Pointer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(bytes, 1), Alignment);
        if (zeroed) NativeMemory.Clear(Pointer, (nuint)bytes);
    }

    /// <summary>Rounds a byte offset up to the alignment, to place a second array in the same buffer.</summary>
    public static long AlignUp(long bytes) => (bytes + Alignment - 1) / Alignment * Alignment;

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    ~NativeBuffer() => Free();

    void Free()
    {
        if (Pointer == null) return;
        NativeMemory.AlignedFree(Pointer);
        Pointer = null;
    }
}
