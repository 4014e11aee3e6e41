namespace CtcDrafter.Model;

/// <summary>
/// A model, draft or data file that cannot be used as it is: missing, malformed, inconsistent or unsupported.
/// The message names the file and the problem; the CLI prints it and exits with code 2.
/// </summary>
public sealed class ModelFormatException(string path, string problem)
    : Exception($"{path}: {problem}")
{
    /// <summary>The file (or folder) at fault.</summary>
    public string Path { get; } = path;
}
