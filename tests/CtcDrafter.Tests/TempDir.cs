namespace CtcDrafter.Tests;

/// <summary>A temporary folder removed on dispose.</summary>
sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("ctcdrafter-test-").FullName;

    /// <summary>The path of <paramref name="name"/> inside the folder.</summary>
    public string this[string name] => System.IO.Path.Combine(Path, name);

    /// <summary>Writes a file into the folder and returns its path.</summary>
    public string Write(string name, byte[] data)
    {
        File.WriteAllBytes(this[name], data);
        return this[name];
    }

    /// <inheritdoc cref="Write(string, byte[])"/>
    public string Write(string name, string text)
    {
        File.WriteAllText(this[name], text);
        return this[name];
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
