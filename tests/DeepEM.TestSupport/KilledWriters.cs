using DeepEM.Formats.IO;

namespace DeepEM.TestSupport;

/// <summary>What a writer killed between writing and renaming leaves behind, made on purpose.</summary>
public static class KilledWriters
{
    /// <summary>
    /// The temporary file <see cref="AtomicFile"/> makes for <paramref name="path"/>, left as a killed writer leaves it:
    /// the write stops after its first bytes; AtomicFile deletes its temporary file on an exception, so the half-written
    /// file is put back under the name AtomicFile gave it, last written <paramref name="ago"/> (a minute by default: a
    /// writer killed before the run that clears it away). Returns that name.
    /// </summary>
    public static string LeaveTemporaryFileOf(string path, TimeSpan? ago = null)
    {
        string? temp = null;
        try
        {
            AtomicFile.Write(path, stream =>
            {
                stream.Write("half of a file"u8);
                temp = ((FileStream)stream).Name;
                throw new OperationCanceledException("killed");
            });
        }
        catch (OperationCanceledException)
        {
        }
        if (temp is null || File.Exists(temp)) throw new InvalidOperationException($"AtomicFile did not write {path} through a temporary file that it then deleted");
        File.WriteAllText(temp, "half of a file");
        File.SetLastWriteTimeUtc(temp, DateTime.UtcNow - (ago ?? TimeSpan.FromMinutes(1)));
        return temp;
    }
}
