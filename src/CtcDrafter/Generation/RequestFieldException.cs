namespace CtcDrafter.Generation;

/// <summary>A generation request with an invalid value; <see cref="Field"/> names it as OpenAI's API does.</summary>
public sealed class RequestFieldException(string field, string message) : ArgumentException(message)
{
    /// <summary>temperature, top_p, top_k, max_tokens, stop or top_logprobs.</summary>
    public string Field { get; } = field;
}
