namespace CtcDrafter.Generation;

/// <summary>How a <see cref="BatchGenerator"/> serves its requests.</summary>
public sealed record BatchOptions
{
    /// <summary>Sequences decoded together in every forward pass (the slots); a request beyond them waits for one.</summary>
    public int Parallel { get; init; } = 4;

    /// <summary>Requests that may wait for a slot; one more is refused with <see cref="QueueFullException"/>.</summary>
    public int Queue { get; init; } = 64;

    /// <summary>Most tree nodes (root included) a sequence verifies per step.</summary>
    public int MaxTreeNodes { get; init; } = 32;

    /// <summary>
    /// Choose the tree size of every step from the measured cost curve of the whole pass and each method's observed
    /// acceptance (more sequences, smaller trees); false verifies <see cref="MaxTreeNodes"/> every step.
    /// </summary>
    public bool Adaptive { get; init; } = true;

    /// <summary>
    /// Longest a request may wait for a slot (then it fails with <see cref="TimeoutException"/>), and then longest
    /// it may hold one (then it ends with <see cref="FinishReason.TimeLimit"/> and the text so far), so that no
    /// request keeps a slot from the others indefinitely. Null: no limit.
    /// </summary>
    public TimeSpan? Timeout { get; init; }

    internal void Validate()
    {
        if (Parallel < 1) throw new ArgumentOutOfRangeException(nameof(Parallel), $"at least one slot (got {Parallel})");
        if (Queue < 0) throw new ArgumentOutOfRangeException(nameof(Queue), $"a queue cannot be negative (got {Queue})");
        if (MaxTreeNodes < 1) throw new ArgumentOutOfRangeException(nameof(MaxTreeNodes), $"at least the root (got {MaxTreeNodes})");
        if (Timeout is { } t && t <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Timeout), $"a time limit must be positive (got {t})");
    }
}

/// <summary>Every slot of a <see cref="BatchGenerator"/> is busy and its queue is full; <see cref="RetryAfter"/> estimates when to try again.</summary>
public sealed class QueueFullException(int waiting, TimeSpan retryAfter)
    : Exception($"the server is busy: {waiting} requests are already waiting for a slot; retry in {Math.Ceiling(retryAfter.TotalSeconds):F0} s")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}
