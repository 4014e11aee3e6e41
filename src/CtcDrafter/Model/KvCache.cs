namespace CtcDrafter.Model;

/// <summary>
/// Preallocated, position-indexed key/value cache. Slots [0, Length) hold committed tokens; a forward pass
/// writes its T new tokens to slots [Length, Length + T) and the caller then decides which of them become
/// committed: rollback is setting the length, acceptance is copying the chosen slots down (<see cref="Commit"/>).
/// </summary>
internal sealed class KvCache
{
    public int Layers { get; }
    public int KvHeads { get; }
    public int HeadDim { get; }
    public int Capacity { get; }
    public int Length { get; private set; }

    readonly float[] _k; // [layers, kvHeads, capacity, headDim], after RoPE
    readonly float[] _v; // [layers, kvHeads, capacity, headDim]

    public KvCache(int layers, int kvHeads, int headDim, int capacity)
    {
        (Layers, KvHeads, HeadDim, Capacity) = (layers, kvHeads, headDim, capacity);
        long n = (long)layers * kvHeads * capacity * headDim;
        if (n > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(capacity), $"KV cache of {n} floats is too large");
        _k = new float[n];
        _v = new float[n];
    }

    public long Bytes => 2L * _k.Length * sizeof(float);

    int Offset(int layer, int head, int slot) => ((layer * KvHeads + head) * Capacity + slot) * HeadDim;

    public Span<float> Key(int layer, int head, int slot) => _k.AsSpan(Offset(layer, head, slot), HeadDim);
    public Span<float> Value(int layer, int head, int slot) => _v.AsSpan(Offset(layer, head, slot), HeadDim);

    /// <summary>Keys of slots [first, first + count) of one head: [count, headDim].</summary>
    public ReadOnlySpan<float> Keys(int layer, int head, int first, int count) => _k.AsSpan(Offset(layer, head, first), count * HeadDim);
    public ReadOnlySpan<float> Values(int layer, int head, int first, int count) => _v.AsSpan(Offset(layer, head, first), count * HeadDim);

    /// <summary>Forgets everything from <paramref name="length"/> on.</summary>
    public void Truncate(int length)
    {
        if ((uint)length > (uint)Length) throw new ArgumentOutOfRangeException(nameof(length));
        Length = length;
    }

    /// <summary>
    /// Commits pending slots: pending slot <c>Length + slots[i]</c> moves to <c>Length + i</c>, then the length
    /// grows by <c>slots.Length</c>. Slots must be increasing (a root-to-node path is), so copies never overwrite
    /// a slot that is still to be read.
    /// </summary>
    public void Commit(ReadOnlySpan<int> slots)
    {
        if (Length + slots.Length > Capacity) throw new InvalidOperationException("KV cache is full");
        for (int i = 0; i < slots.Length; i++)
        {
            if (slots[i] < i || (i > 0 && slots[i] <= slots[i - 1]) || Length + slots[i] >= Capacity)
                throw new ArgumentException("slots must be increasing pending slot indices", nameof(slots));
            if (slots[i] == i) continue;
            for (int l = 0; l < Layers; l++)
                for (int h = 0; h < KvHeads; h++)
                {
                    Key(l, h, Length + slots[i]).CopyTo(Key(l, h, Length + i));
                    Value(l, h, Length + slots[i]).CopyTo(Value(l, h, Length + i));
                }
        }
        Length += slots.Length;
    }

    /// <summary>Commits the first <paramref name="count"/> pending slots in order (prefill, plain decoding).</summary>
    public void Advance(int count)
    {
        if (Length + count > Capacity) throw new InvalidOperationException("KV cache is full");
        Length += count;
    }
}
