namespace CtcDrafter.Cli.Bench;

/// <summary>One benchmark item: one or more user turns (MT-bench has two), or raw text to continue.</summary>
sealed record BenchPrompt(string Id, string Category, IReadOnlyList<string> Turns, bool Raw = false);
