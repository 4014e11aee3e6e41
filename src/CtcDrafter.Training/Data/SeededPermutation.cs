namespace CtcDrafter.Training.Data;

/// <summary>
/// Seeded permutations (Fisher-Yates with SplitMix64): stable across .NET versions, unlike System.Random's seeded
/// sequences, so that the data order of a run depends on its seed and step alone and resumed runs continue exactly.
/// </summary>
internal static class SeededPermutation
{
    /// <summary>A permutation of 0..count-1 for (seed, epoch).</summary>
    public static int[] Of(int count, long seed, long epoch)
    {
        var order = Enumerable.Range(0, count).ToArray();
        ulong state = (ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)epoch;
        for (int i = order.Length - 1; i > 0; i--)
        {
            int k = (int)(Next(ref state) % (ulong)(i + 1));
            (order[i], order[k]) = (order[k], order[i]);
        }
        return order;
    }

    /// <summary>The next value of a SplitMix64 stream.</summary>
    public static ulong Next(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
