using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace CtcDrafter.Cli.Server;

/// <summary>
/// The chat page at <c>GET /</c>: static files embedded in the assembly (Server/Page), no external URL. It streams
/// answers from <c>/v1/chat/completions</c> and colours each token by its <c>speculation.depth</c>.
/// </summary>
static class ChatPage
{
    static readonly (string Path, string File, string ContentType)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/page.js", "page.js", "text/javascript; charset=utf-8"),
        ("/page.css", "page.css", "text/css; charset=utf-8"),
    ];

    public static void Map(WebApplication app)
    {
        foreach (var (path, file, contentType) in Files)
        {
            byte[] content = Read(file);
            app.MapGet(path, () => Results.Bytes(content, contentType));
        }
    }

    static byte[] Read(string file)
    {
        using Stream stream = typeof(ChatPage).Assembly.GetManifestResourceStream("Page/" + file)
            ?? throw new InvalidOperationException($"the chat page's {file} is not embedded in {typeof(ChatPage).Assembly.GetName().Name}");
        using var bytes = new MemoryStream();
        stream.CopyTo(bytes);
        return bytes.ToArray();
    }
}
