using CtcDrafter.Cli.Commands;

namespace CtcDrafter.Tests.Cli;

public class DraftFoldersTests
{
    [Fact]
    public void OneFolderServesEveryMethod()
    {
        var d = DraftFolders.Parse("models/ref-s/draft-ctc");
        Assert.Equal("models/ref-s/draft-ctc", d.For("ctc", "m"));
        Assert.Equal("models/ref-s/draft-ctc", d.For("eagle", "m"));
        Assert.Null(DraftFolders.Parse(null).For("vanilla", "m"));
    }

    [Fact]
    public void WithoutDraftAMethodUsesTheModelsOwnDraftFolder()
    {
        Assert.Equal(Path.Combine(Path.Combine(TestData.RepoRoot, "models", "ref-s"), "draft-ctc"), DraftFolders.Parse(null).For("ctc", Path.Combine(TestData.RepoRoot, "models", "ref-s")));
        Assert.Equal(Path.Combine(Path.Combine(TestData.RepoRoot, "models", "ref-s"), "draft-ctc"), DraftFolders.Parse(null).For("ctc-strict", Path.Combine(TestData.RepoRoot, "models", "ref-s")));
        Assert.Equal(Path.Combine(Path.Combine(TestData.RepoRoot, "models", "ref-s"), "draft-medusa"), DraftFolders.Parse("eagle=x").For("medusa", Path.Combine(TestData.RepoRoot, "models", "ref-s")));
        var e = Assert.Throws<ArgumentException>(() => DraftFolders.Parse(null).For("eagle", "/nonexistent/model"));
        Assert.Contains("/nonexistent/model/draft-eagle", e.Message);
    }

    [Fact]
    public void FoldersPerMethod()
    {
        var d = DraftFolders.Parse("ctc=a/ctc, eagle=b,medusa=c=d");
        Assert.Equal("a/ctc", d.For("ctc", "m"));
        Assert.Equal("b", d.For("eagle", "m"));
        Assert.Equal("c=d", d.For("medusa", "m"));
        Assert.Null(d.For("prompt-lookup", "m"));
        Assert.Contains("is not METHOD=DIR", Assert.Throws<ArgumentException>(() => DraftFolders.Parse("ctc=a,b")).Message);
        Assert.Contains("names ctc twice", Assert.Throws<ArgumentException>(() => DraftFolders.Parse("ctc=a,ctc=b")).Message);
    }
}
