namespace CtcDrafter.Text;

/// <summary>One message of a chat: <paramref name="Role"/> is <see cref="SystemRole"/>, <see cref="UserRole"/>
/// or <see cref="AssistantRole"/>.</summary>
public sealed record ChatMessage(string Role, string Content)
{
    /// <summary>The role of a system message, which may only come first.</summary>
    public const string SystemRole = "system";

    /// <summary>The role of the user's messages.</summary>
    public const string UserRole = "user";

    /// <summary>The role of the model's messages.</summary>
    public const string AssistantRole = "assistant";
}
