using System.Text;
using CtcDrafter.Training.Tokenizer;

namespace CtcDrafter.Training.Data;

/// <summary>Document and token counts of one source.</summary>
internal sealed record SourceStatistics(string Source, int Documents, long Tokens, int HeldOutDocuments, long HeldOutTokens);

/// <summary>
/// The tokenised corpus: every document becomes BOS + tokens (+ EOS), the documents are concatenated in their
/// fixed order into one training stream and one held-out stream. About 2 % of the documents, chosen by a stable
/// hash of their text, are held out.
/// </summary>
internal sealed class TokenCorpus
{
    const int HeldOutOneIn = 50;

    TokenCorpus(int[] train, int[] heldOut, IReadOnlyList<SourceStatistics> statistics)
    {
        Train = train;
        HeldOut = heldOut;
        Statistics = statistics;
    }

    public int[] Train { get; }   // [trainTokens]
    public int[] HeldOut { get; } // [heldOutTokens]
    public IReadOnlyList<SourceStatistics> Statistics { get; }

    public static TokenCorpus Build(IReadOnlyList<CorpusDocument> documents, TextTokenizer tokenizer)
    {
        var encoded = new List<int>[documents.Count];
        Parallel.For(0, documents.Count, i => encoded[i] = tokenizer.EncodeDocument(documents[i]));

        var train = new List<int>();
        var heldOut = new List<int>();
        var statistics = new List<SourceStatistics>();
        foreach (var group in documents.Select((d, i) => (d, i)).GroupBy(x => x.d.Source))
        {
            int docs = 0, heldDocs = 0;
            long tokens = 0, heldTokens = 0;
            foreach (var (document, i) in group)
            {
                docs++;
                tokens += encoded[i].Count;
                if (IsHeldOut(document))
                {
                    heldDocs++;
                    heldTokens += encoded[i].Count;
                    heldOut.AddRange(encoded[i]);
                }
                else
                {
                    train.AddRange(encoded[i]);
                }
            }
            statistics.Add(new SourceStatistics(group.Key, docs, tokens, heldDocs, heldTokens));
        }
        return new TokenCorpus([.. train], [.. heldOut], statistics);
    }

    /// <summary>Whether a document belongs to the held-out split (FNV-1a 64 of its source and text).</summary>
    public static bool IsHeldOut(CorpusDocument document)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(document.Source + "\n" + document.Text))
            hash = (hash ^ b) * 1099511628211UL;
        return hash % HeldOutOneIn == 0;
    }

    /// <summary>A stable fingerprint of both streams, to check that a resumed run sees the same data.</summary>
    public string Fingerprint()
    {
        ulong hash = 14695981039346656037UL;
        foreach (int token in Train.Concat(HeldOut).Append(Train.Length))
            hash = (hash ^ (uint)token) * 1099511628211UL;
        return hash.ToString("x16");
    }
}
