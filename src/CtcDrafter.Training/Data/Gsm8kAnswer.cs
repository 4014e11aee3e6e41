using System.Text.RegularExpressions;

namespace CtcDrafter.Training.Data;

/// <summary>GSM8K answers as the evaluation prompt asks for them: no calculator notes, final line "### N".</summary>
internal static partial class Gsm8kAnswer
{
    /// <summary>Removes the <c>&lt;&lt;a=b&gt;&gt;</c> notes and rewrites the final <c>#### N</c> as <c>### N</c>.</summary>
    public static string Clean(string answer) =>
        FinalLine().Replace(CalculatorNote().Replace(answer, ""), "### ${n}");

    [GeneratedRegex(@"<<[^<>]*>>")]
    private static partial Regex CalculatorNote();

    [GeneratedRegex(@"^#### (?<n>.*)$", RegexOptions.Multiline)]
    private static partial Regex FinalLine();
}
