namespace CtcDrafter.Kernels;

/// <summary>A chunk body over its own units [0, Units) (a matrix's rows or row groups), one part of <see cref="ChunkParts{TPart}"/>.</summary>
internal interface IChunkPart : IChunkBody
{
    int Units { get; }
}

/// <summary>
/// Up to three parts as one range of work, each part's units after the previous part's: a chunk [start, end) runs
/// every part's share of it. One parallel call thus covers several matrices of one input; a part with no units is absent.
/// </summary>
internal readonly struct ChunkParts<TPart>(TPart p0, TPart p1, TPart p2) : IChunkBody where TPart : struct, IChunkPart
{
    public int Units => p0.Units + p1.Units + p2.Units;

    public void Run(int start, int end)
    {
        int offset = RunShare(p0, start, end, 0);
        offset = RunShare(p1, start, end, offset);
        RunShare(p2, start, end, offset);
    }

    // Runs the part's units within [start, end) (its first unit at offset); returns the next part's offset.
    static int RunShare(in TPart part, int start, int end, int offset)
    {
        int units = part.Units, s = Math.Max(start, offset) - offset, e = Math.Min(end, offset + units) - offset;
        if (s < e) part.Run(s, e);
        return offset + units;
    }
}
