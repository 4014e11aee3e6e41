namespace CtcDrafter.Model;

/// <summary>
/// Writes a model or draft folder as a whole: its files go into a hidden sibling folder first, which takes the
/// folder's place only once complete. A failure, or a kill at any moment, leaves the old folder (or none), never a
/// half-written one.
/// </summary>
internal static class FolderWriter
{
    /// <param name="folder">The folder to write.</param>
    /// <param name="replace">True: an existing folder is replaced. False: the folder must be absent or empty.</param>
    /// <param name="write">Writes the files into the folder it is given.</param>
    /// <exception cref="IOException">The folder exists and is not empty (when not replacing), or is a file.</exception>
    public static void Write(string folder, bool replace, Action<string> write)
    {
        string full = Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar);
        string parent = Path.GetDirectoryName(full)!, name = Path.GetFileName(full);
        if (File.Exists(full)) throw new IOException($"{folder}: a file is in the way of the output folder");
        Directory.CreateDirectory(parent);
        // Left by a writer that was killed: its unfinished files, and the folder it was replacing. Killed between its
        // two moves, it left no folder at all: the replaced one goes back first.
        foreach (string stale in Directory.GetDirectories(parent, $".{name}.tmp-*"))
            Directory.Delete(stale, recursive: true);
        foreach (string replaced in Directory.GetDirectories(parent, $".{name}.old-*"))
            if (!Directory.Exists(full)) Directory.Move(replaced, full);
            else Directory.Delete(replaced, recursive: true);
        if (!replace && Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new IOException($"{folder}: the output folder exists and is not empty");
        string temp = Path.Combine(parent, $".{name}.tmp-{Guid.NewGuid():N}");
        Directory.CreateDirectory(temp);
        try
        {
            write(temp);
            string? old = null;
            if (Directory.Exists(full))
            {
                old = Path.Combine(parent, $".{name}.old-{Guid.NewGuid():N}");
                Directory.Move(full, old);
            }
            Directory.Move(temp, full);
            if (old is not null) Directory.Delete(old, recursive: true);
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
    }
}
