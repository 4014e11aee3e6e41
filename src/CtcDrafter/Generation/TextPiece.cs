namespace CtcDrafter.Generation;

/// <summary>
/// Text streamed as tokens are committed, with how the token that produced it was made: <see cref="Depth"/> 0 is
/// the base model's own token (the prefill's, or the one a step adds after its accepted draft), d ≥ 1 a draft
/// token the base model accepted at depth d of the tree. A piece never spans two tokens.
/// </summary>
public readonly record struct TextPiece(string Text, int Depth);
