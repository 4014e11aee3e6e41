using CtcDrafter.Generation;

namespace CtcDrafter.Cli.Bench;

/// <summary>One method on one benchmark item, summed over its turns.</summary>
sealed class MethodRun
{
    public required string Method { get; init; }
    public required BenchPrompt Prompt { get; init; }
    public List<GenerationResult> Turns { get; } = [];
    public bool Identical { get; set; } = true;

    public int NewTokens => Turns.Sum(t => t.Stats.NewTokens);
    public int Steps => Turns.Sum(t => t.Stats.Steps);
    public int DraftNodes => Turns.Sum(t => t.Stats.DraftNodes);
    public double DecodeMs => Turns.Sum(t => t.Stats.DecodeMs);
    public double DraftMs => Turns.Sum(t => t.Stats.DraftMs);
    public double VerifyMs => Turns.Sum(t => t.Stats.VerifyMs);
    public double TokensPerSecond => DecodeMs <= 0 ? 0 : NewTokens / (DecodeMs / 1000);

    public int[] AcceptedPerDepth
    {
        get
        {
            int depth = Turns.Max(t => t.Stats.AcceptedPerDepth.Count);
            var a = new int[depth];
            foreach (var t in Turns)
                for (int d = 0; d < t.Stats.AcceptedPerDepth.Count; d++) a[d] += t.Stats.AcceptedPerDepth[d];
            return a;
        }
    }
}
