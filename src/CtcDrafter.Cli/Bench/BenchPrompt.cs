using CtcDrafter.Text;

namespace CtcDrafter.Cli.Bench;

/// <summary>One benchmark item: one or more user turns (MT-bench has two), or raw text to continue.</summary>
sealed record BenchPrompt(string Id, string Category, IReadOnlyList<string> Turns, bool Raw = false)
{
    /// <summary>The prompt of the first <paramref name="turns"/> turns, earlier turns answered by the model itself (<paramref name="answers"/>).</summary>
    public int[] Encode(TextTokenizer tokenizer, ChatTemplate? template, int turns, IReadOnlyList<string> answers)
    {
        if (Raw || template is null) return [.. tokenizer.Encode(Turns[0], addBos: true)];
        var messages = new List<ChatMessage>();
        for (int t = 0; t < turns; t++)
        {
            messages.Add(new ChatMessage("user", Turns[t]));
            if (t < turns - 1) messages.Add(new ChatMessage("assistant", t < answers.Count ? answers[t] : ""));
        }
        return [.. template.Encode(tokenizer, messages, addGenerationPrompt: true)];
    }
}
