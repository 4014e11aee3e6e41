using System.IO.MemoryMappedFiles;

namespace CtcDrafter.Model;

/// <summary>A whole file mapped read-only into memory. The length is that of the opened file, not of the path: a
/// symbolic link (the Hugging Face cache's snapshots point into its blobs) is measured as its target.</summary>
internal sealed unsafe class MappedFile : IDisposable
{
    readonly MemoryMappedFile _map;
    readonly MemoryMappedViewAccessor _view;
    bool _disposed;

    public byte* Base { get; }
    public long Length { get; }

    /// <exception cref="ModelFormatException">The file is missing or shorter than <paramref name="minLength"/> bytes
    /// (the message says it is not a <paramref name="format"/> file).</exception>
    public MappedFile(string path, long minLength, string format)
    {
        if (!File.Exists(path)) throw new ModelFormatException(path, "file not found");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        Length = stream.Length;
        if (Length < minLength)
        {
            stream.Dispose();
            throw new ModelFormatException(path, $"truncated: {Length} bytes, not a {format} file");
        }
        _map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
        _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* p = null;
        _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        Base = p + _view.PointerOffset;
    }

    /// <summary>Unmaps the file; a second call does nothing.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
