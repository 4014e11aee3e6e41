using CtcDrafter.Training.Data;
using CtcDrafter.Training.Tokenizer;

namespace CtcDrafter.Training.Tests;

public class CorpusTests
{
    [Fact]
    public void VicunaTemplateRendersFastChatText()
    {
        Assert.Equal(
            "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, " +
            "detailed, and polite answers to the user's questions. USER: hi ASSISTANT: hello</s>USER: and? ASSISTANT: bye</s>",
            VicunaTemplate.Render([("hi", "hello"), ("and?", "bye")]));
        Assert.EndsWith(" USER: q ASSISTANT:", VicunaTemplate.Prompt("q"));
    }

    [Fact]
    public void Gsm8kAnswersLoseCalculatorNotesAndGetTheEvaluationsFinalLine()
    {
        Assert.Equal("Natalia sold 48/2 = 24 clips in May.\nSo 48+24 = 72.\n### 72",
            Gsm8kAnswer.Clean("Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nSo 48+24 = <<48+24=72>>72.\n#### 72"));
    }

    [Fact]
    public void ReadsEverySourceOfTheDataFolder()
    {
        using var temp = new TempFolder();
        var documents = CorpusReader.ReadAll(TinyCorpus.Write(temp.Path));
        var bySource = documents.GroupBy(d => d.Source).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(CorpusReader.Sources, bySource.Keys);
        // The valid file's 60 stories are all among its last 100, which the benchmark keeps: none is read.
        Assert.Equal(300 + 60, bySource[CorpusReader.TinyStories].Count);
        Assert.All(bySource[CorpusReader.TinyStories], d => Assert.True(d.AppendEos));

        var gsm = bySource[CorpusReader.Gsm8k][0];
        Assert.Equal(VicunaTemplate.Render([(VicunaTemplate.Gsm8kInstruction + "Lily has 2 balls and gets 1 more. How many are there?",
            "Lily has 2 + 1 = 3 balls.\n### 3")]), gsm.Text);
        Assert.False(gsm.AppendEos);

        var chat = bySource[CorpusReader.Guanaco][0];
        Assert.EndsWith("USER: What is a ball? ASSISTANT: A ball is a thing that Lily likes.</s>" +
            "USER: Why? ASSISTANT: Because it makes Lily happy.</s>", chat.Text);
        Assert.All(bySource[CorpusReader.Shakespeare], d => Assert.True(d.Text.Length <= 2000));
    }

    [Fact]
    public void MissingCorpusFolderIsAClearError()
    {
        var e = Assert.Throws<TrainingInputException>(() => CorpusReader.ReadAll("/nonexistent/data"));
        Assert.Contains("corpus folder not found", e.Message);
    }

    [Fact]
    public void TokenizerMatchesSentencePiece()
    {
        var tokenizer = TextTokenizer.Load(TestPaths.Tokenizer);
        Assert.Equal(4096, tokenizer.VocabSize);
        // Ids from SentencePiece itself (python3-sentencepiece) for the committed tokenizer.
        Assert.Equal([702, 694, 260, 553, 530, 339, 260, 637, 742, 739, 575, 3587],
            tokenizer.Encode("Once upon a time there was a little girl named Lily."));
        Assert.Equal([438, 3597, 912, 357, 3567, 3634, 651, 3567, 3621, 3619, 439, 3597],
            tokenizer.Encode("USER: What is 7 x 8? ASSISTANT:"));
    }

    [Fact]
    public void DocumentsBecomeBosTokensAndEosWhereTheTurnsEnd()
    {
        var tokenizer = TextTokenizer.Load(TestPaths.Tokenizer);
        var chat = tokenizer.EncodeDocument(new CorpusDocument("x", "USER: a ASSISTANT: b</s>USER: c ASSISTANT: d</s>", false));
        Assert.Equal(TextTokenizer.BosId, chat[0]);
        Assert.Equal(2, chat.Count(t => t == TextTokenizer.EosId));
        Assert.Equal(TextTokenizer.EosId, chat[^1]);
        Assert.Equal([.. tokenizer.Encode("USER: c ASSISTANT: d"), TextTokenizer.EosId],
            chat.Skip(chat.IndexOf(TextTokenizer.EosId) + 1));

        var story = tokenizer.EncodeDocument(new CorpusDocument("x", "The end.", true));
        Assert.Equal([TextTokenizer.BosId, .. tokenizer.Encode("The end."), TextTokenizer.EosId], story);
    }

    [Fact]
    public void HeldOutSplitIsStableAndAboutTwoPercent()
    {
        using var temp = new TempFolder();
        var documents = CorpusReader.ReadAll(TinyCorpus.Write(temp.Path));
        var corpus = TokenCorpus.Build(documents, TextTokenizer.Load(TestPaths.Tokenizer));
        var again = TokenCorpus.Build(documents, TextTokenizer.Load(TestPaths.Tokenizer));
        Assert.Equal(corpus.Fingerprint(), again.Fingerprint());
        int heldOut = corpus.Statistics.Sum(s => s.HeldOutDocuments);
        Assert.InRange(heldOut, 1, documents.Count / 15);
        Assert.Equal(corpus.Statistics.Sum(s => s.Tokens), corpus.Train.Length + corpus.HeldOut.Length);
    }

    [SharedDataFact]
    public void SharedCorpusHasTheExpectedDocuments()
    {
        var documents = CorpusReader.ReadAll(TestPaths.SharedData);
        var counts = documents.GroupBy(d => d.Source).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(7473, counts[CorpusReader.Gsm8k]);
        Assert.Equal(1000, counts[CorpusReader.Guanaco]);
        Assert.InRange(counts[CorpusReader.TinyStories], 3000, 4000);
        Assert.InRange(counts[CorpusReader.Shakespeare], 500, 700);
        double heldOut = documents.Count(TokenCorpus.IsHeldOut) / (double)documents.Count;
        Assert.InRange(heldOut, 0.01, 0.03);
        Assert.Equal(0, documents.Count(d => d.Text.Contains("[INST]") || d.Text.Contains("<|endoftext|>")));
        Assert.Equal(0, documents.Count(d => d.Source == CorpusReader.Gsm8k && (d.Text.Contains("<<") || d.Text.Contains("####"))));
    }
}
