namespace CtcDrafter.Training.Distill;

/// <summary>
/// One distilled sample: the prompt and the base model's greedy answer as token ids, the loss mask (1 on answer
/// tokens) and the base model's post-norm hidden states at every position.
/// </summary>
/// <param name="Id">The prompt's id.</param>
/// <param name="Source">The prompt's source.</param>
/// <param name="Tokens">[length] prompt (BOS first) then answer (EOS last when the model ended it).</param>
/// <param name="Mask">[length] 1 on answer tokens, 0 on prompt tokens.</param>
/// <param name="Hidden">[length, hidden] bfloat16 bits.</param>
/// <param name="Finish">Why the answer ended: eos, max_tokens or context_full.</param>
internal sealed record DistillSample(string Id, string Source, int[] Tokens, byte[] Mask, ushort[] Hidden, string Finish)
{
    public int Length => Tokens.Length;
    public int PromptTokens => Array.IndexOf(Mask, (byte)1) is int first and >= 0 ? first : Length;
    public int AnswerTokens => Length - PromptTokens;
}
