using System.Collections.Concurrent;

namespace DeepEM.Pipeline.Arrivals;

/// <summary>
/// One watched place: a folder (every file in it that the picker can read) or a pattern (<c>*</c>, <c>?</c> in the file
/// name part) in a folder, as the PATH... arguments of <c>deepem pick</c> name them.
/// </summary>
public sealed record WatchedPlace(string Folder, string Pattern)
{
    /// <summary>A folder as given, or the folder and file-name pattern of a pattern; null for anything else (a file).</summary>
    public static WatchedPlace? Of(string argument)
    {
        if (Directory.Exists(argument)) return new WatchedPlace(Path.GetFullPath(argument), "*");
        if (argument.IndexOfAny(['*', '?']) < 0) return null;
        var folder = Path.GetDirectoryName(argument);
        return new WatchedPlace(Path.GetFullPath(string.IsNullOrEmpty(folder) ? "." : folder), Path.GetFileName(argument));
    }
}

/// <summary>
/// Watches folders for micrographs that land there and hands each one to the caller once it is completely written (the
/// rules are <see cref="ArrivalPlanner"/>'s). File-system events (inotify, through <see cref="FileSystemWatcher"/>) bring
/// new files at once; a listing every <see cref="Rescan"/> is the safety net for file systems that deliver no events
/// (NFS, Lustre, GPFS seen from a client) and for events lost to a full queue. A listing only reads the names; it asks
/// for the length and time only of names that have not arrived, so a folder of 100,000 micrographs costs one directory
/// read per listing. Hidden files (a leading '.', where rsync and our own writers keep their temporary files) are never
/// candidates; a rename into a real name brings them.
/// </summary>
public sealed class FolderArrivals : IDisposable
{
    private readonly IReadOnlyList<WatchedPlace> _places;
    private readonly Func<string, bool> _accept;
    private readonly ArrivalPlanner _planner;
    private readonly TimeProvider _time;
    private readonly List<FileSystemWatcher> _watchers = [];
    // Events arrive on the thread pool; the planner is looked at on the caller's loop only.
    private readonly ConcurrentQueue<(string Path, bool Renamed, string? OldPath)> _events = new();
    // Released by each event, so that the caller's loop wakes at once for a file renamed into place.
    private readonly SemaphoreSlim _eventCame = new(0);
    private DateTimeOffset _lastListing = DateTimeOffset.MinValue;
    // Set by a watcher whose queue overflowed (on its own thread): the next round lists at once.
    private volatile bool _listNow;

    /// <param name="accept">The files the picker can read (by name).</param>
    public FolderArrivals(IReadOnlyList<WatchedPlace> places, Func<string, bool> accept, ArrivalPlanner planner, TimeSpan rescan, TimeProvider? time = null)
    {
        _places = places;
        _accept = accept;
        _planner = planner;
        _time = time ?? TimeProvider.System;
        Rescan = rescan;
        var unavailable = new List<string>();
        foreach (var place in places)
        {
            FileSystemWatcher? watcher = null;
            try
            {
                watcher = new FileSystemWatcher(place.Folder, place.Pattern)
                {
                    NotifyFilter = NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.LastWrite,
                    InternalBufferSize = 64 * 1024,
                };
                watcher.Created += (_, e) => Enqueue(e.FullPath, false, null);
                watcher.Changed += (_, e) => Enqueue(e.FullPath, false, null);
                watcher.Renamed += (_, e) => Enqueue(e.FullPath, true, e.OldFullPath);
                watcher.Deleted += (_, e) => Enqueue(e.FullPath, false, null);
                // A lost event is not lost work: the next round lists the folders.
                watcher.Error += (_, _) => _listNow = true;
                watcher.EnableRaisingEvents = true;
                _watchers.Add(watcher);
            }
            catch (Exception e) when (e is IOException or ArgumentException or PlatformNotSupportedException or UnauthorizedAccessException)
            {
                // No events here (the limit of inotify watches, an unusual file system): the listings carry on alone.
                watcher?.Dispose();
                unavailable.Add($"{place.Folder}: no file-system events ({e.Message})");
            }
        }
        if (unavailable.Count > 0) EventsUnavailable = $"{string.Join("; ", unavailable)}; found by listing every {rescan.TotalSeconds:0} s";
    }

    private void Enqueue(string path, bool renamed, string? oldPath)
    {
        _events.Enqueue((path, renamed, oldPath));
        if (_eventCame.CurrentCount == 0) _eventCame.Release();
    }

    /// <summary>
    /// Waits until a file-system event came or <paramref name="timeout"/> passed (the next look at waiting files, the next
    /// listing), whichever is first; then call <see cref="Poll"/>. Never throws on cancellation: it returns.
    /// </summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancel = default)
    {
        try
        {
            await _eventCame.WaitAsync(timeout, cancel);
        }
        catch (OperationCanceledException)
        {
            // The caller looks at its token.
        }
    }

    /// <summary>How often the folders are listed whole, events or not.</summary>
    public TimeSpan Rescan { get; }

    /// <summary>Why events are missing for some folder (one line), or null when every folder has them.</summary>
    public string? EventsUnavailable { get; }

    /// <summary>The last listing error (a folder gone for a moment, a stale NFS handle), tried again next round; null when none.</summary>
    public string? ListingError { get; private set; }

    /// <summary>Files seen and not yet complete.</summary>
    public int Waiting => _planner.Waiting.Count;

    /// <summary>How many listings were made (the safety net's cost, for the summary and the benchmark).</summary>
    public int Listings { get; private set; }

    /// <summary>
    /// One round: the events since the last round, a listing when one is due, a second look at the files still waiting;
    /// returns what became complete, in order. The caller calls it every second or so (more often than the settle time).
    /// </summary>
    public IReadOnlyList<Arrival> Poll()
    {
        var now = _time.GetUtcNow();
        while (_events.TryDequeue(out var e))
        {
            if (e.OldPath is { } old) _planner.Gone(old);
            if (!Candidate(e.Path)) continue;
            if (Look(e.Path) is not { } look) _planner.Gone(e.Path);
            else if (e.Renamed) _planner.RenamedIn(look, now);
            else _planner.Seen(look, now);
        }
        if (_listNow || now - _lastListing >= Rescan)
        {
            _listNow = false;
            _lastListing = now;
            Listings++;
            ListingError = null;
            foreach (var place in _places)
            {
                try
                {
                    if (!Directory.Exists(place.Folder)) continue;
                    foreach (var path in Directory.EnumerateFiles(place.Folder, place.Pattern))
                    {
                        // Names only for what has arrived: no length, no time, no system call per file.
                        if (_planner.HasArrived(path) || !Candidate(path)) continue;
                        if (Look(path) is { } look) _planner.Seen(look, now);
                    }
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // On the file systems the listing is there for, a folder can fail for a moment: the next listing tries again.
                    ListingError = $"{place.Folder}: {e.Message}";
                }
            }
        }
        foreach (var path in _planner.Waiting.ToList())
        {
            if (Look(path) is { } look) _planner.Seen(look, now);
            else _planner.Gone(path);
        }
        return _planner.TakeComplete();
    }

    private bool Candidate(string path)
    {
        var name = Path.GetFileName(path);
        return name.Length > 0 && name[0] != '.' && _accept(path);
    }

    private static FileLook? Look(string path)
    {
        try
        {
            var info = new FileInfo(path);
            return info.Exists ? new FileLook(path, info.Length, info.LastWriteTimeUtc) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public void Dispose()
    {
        foreach (var watcher in _watchers) watcher.Dispose();
        // The semaphore is not disposed: an event on its way from a watcher just disposed may still release it.
        _watchers.Clear();
    }
}
