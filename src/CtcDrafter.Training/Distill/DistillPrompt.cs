namespace CtcDrafter.Training.Distill;

/// <summary>A prompt for the base model to answer.</summary>
/// <param name="Id">Stable name, <c>{source}-{index}</c> with the index in the source's deduplicated list.</param>
/// <param name="Source">One of <see cref="DistillPrompts.Sources"/>.</param>
/// <param name="Text">The user message, or the text to continue.</param>
/// <param name="Chat">True: a user message rendered with the vicuna_v1.1 template; false: text continued raw after BOS.</param>
internal sealed record DistillPrompt(string Id, string Source, string Text, bool Chat);
