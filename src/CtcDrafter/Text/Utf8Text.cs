using System.Text;

namespace CtcDrafter.Text;

/// <summary>UTF-8 decoding as SentencePiece and Hugging Face's ByteFallback decoder do it: each byte of an invalid
/// sequence becomes one U+FFFD (.NET's default gives one per maximal invalid subsequence).</summary>
internal static class Utf8Text
{
    public static readonly Encoding Encoding = Encoding.GetEncoding("utf-8", EncoderFallback.ReplacementFallback, new PerByteFallback());

    private sealed class PerByteFallback : DecoderFallback
    {
        public override int MaxCharCount => 4;

        public override DecoderFallbackBuffer CreateFallbackBuffer() => new Buffer();

        private sealed class Buffer : DecoderFallbackBuffer
        {
            private int remaining;

            public override int Remaining => remaining;

            public override bool Fallback(byte[] bytesUnknown, int index)
            {
                remaining = bytesUnknown.Length;
                return remaining > 0;
            }

            public override char GetNextChar()
            {
                if (remaining == 0) return '\0';
                remaining--;
                return '\uFFFD';
            }

            public override bool MovePrevious() => false;

            public override void Reset() => remaining = 0;
        }
    }
}
