namespace DeepEM.Formats.IO;

/// <summary>
/// Writes a file whole or not at all: the content goes to a temporary file beside the target, is flushed to
/// disk, and is then renamed over the target. A crash leaves either the old file or the new one, never half
/// of one; a reader (or a resumed run) never sees a truncated output.
/// </summary>
public static class AtomicFile
{
    // .TARGET.PID.GUID.tmp: hidden (listings skip it), beside its target (the rename stays in one file system), unique
    // per writer (two processes writing one target never share a temporary file).
    private static string TempFor(string dir, string full) => Path.Combine(dir, $".{Path.GetFileName(full)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");

    private static readonly System.Text.RegularExpressions.Regex Temporary = new(@"^\.(?<target>.+)\.[0-9]+\.[0-9a-f]{32}\.tmp$", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

    /// <summary>
    /// Deletes the temporary files left in <paramref name="directory"/> (not below it) by writers that were killed between
    /// writing and renaming (SIGKILL, power loss), for the targets <paramref name="isTarget"/> accepts (file names), and
    /// only those last written before <paramref name="writtenBeforeUtc"/>: a writer at work since then (a micrograph
    /// submitted again) keeps its temporary file. Returns how many were deleted.
    /// </summary>
    public static int RemoveLeftovers(string directory, Func<string, bool> isTarget, DateTime writtenBeforeUtc)
    {
        if (!Directory.Exists(directory)) return 0;
        var removed = 0;
        // Hidden files are skipped by default: these are hidden.
        foreach (var file in Directory.EnumerateFiles(directory, ".*.tmp", new EnumerationOptions { AttributesToSkip = 0, MatchCasing = MatchCasing.CaseSensitive }))
        {
            var match = Temporary.Match(Path.GetFileName(file));
            if (!match.Success || !isTarget(match.Groups["target"].Value)) continue;
            if (File.GetLastWriteTimeUtc(file) >= writtenBeforeUtc) continue;
            if (TryDelete(file)) removed++;
        }
        return removed;
    }

    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var temp = TempFor(dir, full);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, s =>
        {
            using var writer = new StreamWriter(s, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
            writer.Write(text);
        });

    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy));
    }

    /// <summary>
    /// Several files, each whole or not at all, made durable together: all are written to their temporary files, then all
    /// are flushed to disk, then all are renamed in the order given (so the last one's presence means the others are
    /// there). On a journalling file system the first flush commits what the others wrote, and the rest find little left
    /// to do: one disk commit where writing the files one after another would make one each.
    /// </summary>
    public static void WriteAllTexts(IReadOnlyList<(string Path, string Text)> files)
    {
        var encoding = new System.Text.UTF8Encoding(false);
        var open = new List<(FileStream Stream, string Temp, string Target)>(files.Count);
        try
        {
            foreach (var (path, text) in files)
            {
                var full = Path.GetFullPath(path);
                var dir = Path.GetDirectoryName(full)!;
                if (!Directory.Exists(dir)) Directory.CreateDirectory(dir);
                var temp = TempFor(dir, full);
                var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
                open.Add((stream, temp, full));
                stream.Write(encoding.GetBytes(text));
            }
            foreach (var (stream, _, _) in open) stream.Flush(flushToDisk: true);
            foreach (var (stream, _, _) in open) stream.Dispose();
            foreach (var (_, temp, target) in open) File.Move(temp, target, overwrite: true);
        }
        catch
        {
            foreach (var (stream, temp, _) in open)
            {
                stream.Dispose();
                TryDelete(temp);
            }
            throw;
        }
    }

    private static bool TryDelete(string path)
    {
        try
        {
            File.Delete(path);
            return true;
        }
        catch (IOException)
        {
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }
}
