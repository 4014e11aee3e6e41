using System.Text;

namespace CtcDrafter.Training.Data;

/// <summary>
/// The Vicuna v1.1 chat template as FastChat renders it: the system prompt, then per turn
/// <c>"USER: {q} ASSISTANT: {a}&lt;/s&gt;"</c>; the user message is followed by <c>" "</c> and the assistant message by
/// <c>"&lt;/s&gt;"</c> (the end-of-sequence token), which is therefore directly followed by the next <c>"USER:"</c>.
/// </summary>
internal static class VicunaTemplate
{
    /// <summary>The system prompt that opens every conversation.</summary>
    public const string SystemPrompt =
        "A chat between a curious user and an artificial intelligence assistant. " +
        "The assistant gives helpful, detailed, and polite answers to the user's questions.";

    /// <summary>The marker of the end-of-sequence token inside rendered text.</summary>
    public const string EndOfTurn = "</s>";

    /// <summary>The GSM8K evaluation prefix put before every question.</summary>
    public const string Gsm8kInstruction =
        "Please carefully read the following math question, give a solution and the final answer" +
        "(put the final answer after ### at the end): ";

    /// <summary>Renders finished turns; a last turn with a null answer ends the text with "ASSISTANT:" (a prompt).</summary>
    public static string Render(IReadOnlyList<(string User, string? Assistant)> turns)
    {
        var text = new StringBuilder(SystemPrompt).Append(' ');
        foreach (var (user, assistant) in turns)
        {
            text.Append("USER: ").Append(user).Append(' ');
            if (assistant is null) text.Append("ASSISTANT:");
            else text.Append("ASSISTANT: ").Append(assistant).Append(EndOfTurn);
        }
        return text.ToString();
    }

    /// <summary>The prompt for one question ending with "ASSISTANT:".</summary>
    public static string Prompt(string user) => Render([(user, null)]);
}
