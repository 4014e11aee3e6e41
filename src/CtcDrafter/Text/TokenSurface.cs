namespace CtcDrafter.Text;

/// <summary>How a token decodes: <see cref="Control"/> tokens (BOS, EOS, chat markers) decode to nothing and do
/// not end the start of the text; <see cref="Text"/> tokens lose a leading space at the start of the text when
/// the tokenizer adds one while encoding (SentencePiece's dummy prefix); <see cref="Raw"/> tokens decode to their
/// bytes as they are.</summary>
internal enum TokenSurfaceKind { Control, Text, Raw }

/// <summary>The UTF-8 bytes one token contributes to decoded text.</summary>
internal readonly record struct TokenSurface(byte[] Bytes, TokenSurfaceKind Kind)
{
    public static readonly TokenSurface Control = new([], TokenSurfaceKind.Control);
}
