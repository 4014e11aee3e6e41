namespace CtcDrafter.Cli.Server;

/// <summary>A request body that cannot be served: the message names the problem, <see cref="Param"/> the field.</summary>
sealed class BadRequestException(string message, string? param) : Exception(message)
{
    public string? Param { get; } = param;
}
