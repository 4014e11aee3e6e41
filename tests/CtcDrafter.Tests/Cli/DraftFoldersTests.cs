using CtcDrafter.Cli.Commands;

namespace CtcDrafter.Tests.Cli;

public class DraftFoldersTests
{
    [Fact]
    public void OneFolderServesEveryMethod()
    {
        var d = DraftFolders.Parse("models/ref-s/draft-ctc");
        Assert.Equal("models/ref-s/draft-ctc", d.For("ctc"));
        Assert.Equal("models/ref-s/draft-ctc", d.For("eagle"));
        Assert.Null(DraftFolders.Parse(null).For("ctc"));
    }

    [Fact]
    public void FoldersPerMethod()
    {
        var d = DraftFolders.Parse("ctc=a/ctc, eagle=b,medusa=c=d");
        Assert.Equal("a/ctc", d.For("ctc"));
        Assert.Equal("b", d.For("eagle"));
        Assert.Equal("c=d", d.For("medusa"));
        Assert.Null(d.For("prompt-lookup"));
        Assert.Contains("is not METHOD=DIR", Assert.Throws<ArgumentException>(() => DraftFolders.Parse("ctc=a,b")).Message);
        Assert.Contains("names ctc twice", Assert.Throws<ArgumentException>(() => DraftFolders.Parse("ctc=a,ctc=b")).Message);
    }
}
