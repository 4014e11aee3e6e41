using CtcDrafter.Model;

namespace CtcDrafter.Tests.Model;

/// <summary>What a writer killed at any moment leaves behind is cleaned up by the next one, and never a missing folder.</summary>
public class FolderWriterTests
{
    [Fact]
    public void TheReplacedFolderOfAKilledWriterIsRemovedOrRestored()
    {
        using var dir = new TempDir();
        string folder = dir["out"], parent = dir.Path;
        // Killed after the new folder took the old one's place, before the old one was deleted.
        Directory.CreateDirectory(folder);
        Directory.CreateDirectory(Path.Combine(parent, ".out.old-1"));
        Directory.CreateDirectory(Path.Combine(parent, ".out.tmp-2"));
        FolderWriter.Write(folder, replace: true, tmp => File.WriteAllText(Path.Combine(tmp, "a"), "new"));
        Assert.Equal("new", File.ReadAllText(Path.Combine(folder, "a")));
        Assert.Empty(Directory.GetDirectories(parent, ".*"));

        // Killed between moving the old folder aside and moving the new one in: the old one comes back first, so a
        // writer that must not replace refuses, and nothing is lost.
        Directory.Move(folder, Path.Combine(parent, ".out.old-3"));
        Assert.Throws<IOException>(() => FolderWriter.Write(folder, replace: false, tmp => File.WriteAllText(Path.Combine(tmp, "a"), "other")));
        Assert.Equal("new", File.ReadAllText(Path.Combine(folder, "a")));
        Assert.Empty(Directory.GetDirectories(parent, ".*"));
    }
}
