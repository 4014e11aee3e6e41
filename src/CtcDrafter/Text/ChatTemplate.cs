using static CtcDrafter.Text.ChatMessage;

namespace CtcDrafter.Text;

/// <summary>
/// Renders chat messages into the prompt a chat model was trained on. <see cref="Encode"/> gives its token ids: the
/// template's own special-token texts (the <c>&lt;/s&gt;</c> that closes a Vicuna assistant turn, ChatML's
/// <c>&lt;|im_start|&gt;</c>) become their ids, while the same texts typed inside a message stay plain text, as
/// llama.cpp's <c>parse_special</c> default and Hugging Face's chat templates treat them: a user cannot end a turn,
/// or open one, by typing its marker. <see cref="Render"/> gives the text alone (without the leading BOS).
/// </summary>
public abstract class ChatTemplate
{
    private static readonly ChatTemplate[] All =
        [new Vicuna(), new Llama2Chat(), new MistralInstruct(), new ChatMl(), new Llama3(), new Plain()];

    private ChatTemplate(string name) => Name = name;

    /// <summary>The template's name, as accepted by <see cref="Get"/>.</summary>
    public string Name { get; }

    /// <summary>The names of all templates: vicuna_v1.1, llama-2-chat, mistral-instruct, chatml, llama-3, none.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. All.Select(t => t.Name)];

    /// <summary>Renders <paramref name="messages"/>: an optional system message first, then the turns.</summary>
    /// <param name="messages">The conversation; vicuna_v1.1, llama-2-chat and mistral-instruct require the turns
    /// to alternate user, assistant, user, ...</param>
    /// <param name="addGenerationPrompt">End with the text that opens the assistant's reply (for templates whose
    /// user turn does not already end with it) when the last message is the user's.</param>
    /// <exception cref="ArgumentException">A role is unknown, a system message is not first, or the turns do not
    /// alternate where the template requires it.</exception>
    public string Render(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt) => Build(messages, addGenerationPrompt).ToString();

    /// <summary>The token ids of the rendered prompt, BOS first: special-token texts of the template become their ids,
    /// those inside message contents are encoded as text.</summary>
    /// <inheritdoc cref="Render" path="/param"/>
    /// <inheritdoc cref="Render" path="/exception"/>
    public IReadOnlyList<int> Encode(TextTokenizer tokenizer, IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        var text = Build(messages, addGenerationPrompt);
        return tokenizer.Encode(text.ToString(), addBos: true, plainText: text.ContentSpans);
    }

    private protected abstract ChatText Build(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt);

    /// <summary>The template named <paramref name="name"/> (case-insensitive).</summary>
    /// <exception cref="ArgumentException">No template has that name; the message lists the valid names.</exception>
    public static ChatTemplate Get(string name) =>
        Array.Find(All, t => string.Equals(t.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"Unknown chat template '{name}'; valid names: {string.Join(", ", Names)}.", nameof(name));

    /// <summary>The built-in template a Jinja chat template (tokenizer_config.json's or a GGUF file's
    /// <c>tokenizer.chat_template</c>) writes; null when there is none or it is not one of these templates.</summary>
    public static ChatTemplate? Recognize(string? jinja)
    {
        if (jinja is null) return null;
        bool Has(string marker) => jinja.Contains(marker, StringComparison.Ordinal);
        string? name =
            Has("<|start_header_id|>") ? "llama-3"
            : Has("<|im_start|>") ? "chatml"
            : Has("[INST]") && Has("<<SYS>>") ? "llama-2-chat"
            : Has("[INST]") ? "mistral-instruct"
            : Has("USER:") || Has("ASSISTANT:") ? "vicuna_v1.1"
            : null;
        return name is null ? null : Get(name);
    }

    /// <summary>Splits off a leading system message and checks the roles of the rest.</summary>
    private static (string? System, IReadOnlyList<ChatMessage> Turns) Split(IReadOnlyList<ChatMessage> messages, bool alternate)
    {
        ArgumentNullException.ThrowIfNull(messages);
        string? system = messages is [{ Role: SystemRole } first, ..] ? first.Content : null;
        var turns = messages.Skip(system is null ? 0 : 1).ToList();
        for (int i = 0; i < turns.Count; i++)
        {
            string role = turns[i].Role;
            if (role == SystemRole) throw new ArgumentException("A system message may only come first.", nameof(messages));
            if (role is not (UserRole or AssistantRole))
                throw new ArgumentException($"Unknown role '{role}'; roles are system, user and assistant.", nameof(messages));
            if (alternate && role != (i % 2 == 0 ? UserRole : AssistantRole))
                throw new ArgumentException("Turns must alternate user, assistant, user, ... starting with the user.", nameof(messages));
        }
        return (system, turns);
    }

    private static bool EndsWithUser(IReadOnlyList<ChatMessage> turns) => turns is [.., { Role: UserRole }];

    /// <summary>FastChat's vicuna_v1.1 (SeparatorStyle.ADD_COLON_TWO, sep " ", sep2 "&lt;/s&gt;"):
    /// <c>{system} USER: {q1} ASSISTANT: {a1}&lt;/s&gt;USER: {q2} ASSISTANT:</c>.</summary>
    private sealed class Vicuna() : ChatTemplate("vicuna_v1.1")
    {
        private const string DefaultSystem = "A chat between a curious user and an artificial intelligence assistant. "
            + "The assistant gives helpful, detailed, and polite answers to the user's questions.";

        private protected override ChatText Build(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
        {
            var (system, turns) = Split(messages, alternate: true);
            var sb = new ChatText().Content(system ?? DefaultSystem).Append(' ');
            for (int i = 0; i < turns.Count; i++)
            {
                string role = turns[i].Role == UserRole ? "USER" : "ASSISTANT";
                // As FastChat's get_prompt: an empty message renders as "ROLE:" with no separator.
                if (turns[i].Content.Length == 0) sb.Append(role).Append(':');
                else sb.Append(role).Append(": ").Content(turns[i].Content).Append(i % 2 == 0 ? " " : "</s>");
            }
            if (addGenerationPrompt && EndsWithUser(turns)) sb.Append("ASSISTANT:");
            return sb;
        }
    }

    /// <summary>Meta's Llama-2-chat: <c>[INST] &lt;&lt;SYS&gt;&gt;\n{system}\n&lt;&lt;/SYS&gt;&gt;\n\n{q1} [/INST] {a1} &lt;/s&gt;&lt;s&gt;[INST] {q2} [/INST]</c>.</summary>
    private sealed class Llama2Chat() : ChatTemplate("llama-2-chat")
    {
        private protected override ChatText Build(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
        {
            var (system, turns) = Split(messages, alternate: true);
            var sb = new ChatText();
            for (int i = 0; i < turns.Count; i++)
            {
                string content = turns[i].Content;
                if (i == 0 && system is not null) content = $"<<SYS>>\n{system}\n<</SYS>>\n\n{content}";
                if (turns[i].Role == UserRole) sb.Append(i == 0 ? "" : "<s>").Append("[INST] ").Content(content.Trim()).Append(" [/INST]");
                else sb.Append(' ').Content(content.Trim()).Append(" </s>");
            }
            return sb;
        }
    }

    /// <summary>Mistral-Instruct: <c>[INST] {q1} [/INST]{a1}&lt;/s&gt;[INST] {q2} [/INST]</c>; a system message
    /// opens the first user message, followed by a blank line.</summary>
    private sealed class MistralInstruct() : ChatTemplate("mistral-instruct")
    {
        private protected override ChatText Build(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
        {
            var (system, turns) = Split(messages, alternate: true);
            var sb = new ChatText();
            for (int i = 0; i < turns.Count; i++)
            {
                string content = i == 0 && system is not null ? $"{system}\n\n{turns[i].Content}" : turns[i].Content;
                if (turns[i].Role == UserRole) sb.Append("[INST] ").Content(content).Append(" [/INST]");
                else sb.Content(content).Append("</s>");
            }
            return sb;
        }
    }

    /// <summary>ChatML: <c>&lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n</c> per message.</summary>
    private sealed class ChatMl() : ChatTemplate("chatml")
    {
        private protected override ChatText Build(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
        {
            var (system, turns) = Split(messages, alternate: false);
            var sb = new ChatText();
            foreach (var m in system is null ? turns : turns.Prepend(messages[0]))
                sb.Append("<|im_start|>").Append(m.Role).Append("\n").Content(m.Content).Append("<|im_end|>\n");
            if (addGenerationPrompt && EndsWithUser(turns)) sb.Append("<|im_start|>assistant\n");
            return sb;
        }
    }

    /// <summary>Llama-3-Instruct: <c>&lt;|start_header_id|&gt;{role}&lt;|end_header_id|&gt;\n\n{content}&lt;|eot_id|&gt;</c> per message.</summary>
    private sealed class Llama3() : ChatTemplate("llama-3")
    {
        private protected override ChatText Build(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
        {
            var (system, turns) = Split(messages, alternate: false);
            var sb = new ChatText();
            foreach (var m in system is null ? turns : turns.Prepend(messages[0]))
                sb.Append("<|start_header_id|>").Append(m.Role).Append("<|end_header_id|>\n\n").Content(m.Content.Trim()).Append("<|eot_id|>");
            if (addGenerationPrompt && EndsWithUser(turns)) sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
            return sb;
        }
    }

    /// <summary>No template, for base models: the contents joined by newlines.</summary>
    private sealed class Plain() : ChatTemplate("none")
    {
        private protected override ChatText Build(IReadOnlyList<ChatMessage> messages, bool addGenerationPrompt)
        {
            var (system, turns) = Split(messages, alternate: false);
            var text = new ChatText();
            var all = (system is null ? turns : turns.Prepend(messages[0])).ToList();
            for (int i = 0; i < all.Count; i++) (i == 0 ? text : text.Append("\n")).Content(all[i].Content);
            return text;
        }
    }
}
