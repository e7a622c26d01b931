using System.Runtime.InteropServices;

namespace DeepEM.Cli.Infrastructure;

/// <summary>
/// SIGTERM and Ctrl-C for verbs that follow work running elsewhere (pick and train): the first one cancels
/// <see cref="Token"/>, so the verb stops following, leaves the cluster gracefully and says what became of the work
/// (a batch system's SIGTERM at the end of an allocation must not look like a crash, nor make a client join again).
/// A second one ends the process at once.
/// </summary>
public sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly PosixSignalRegistration _term;
    private readonly PosixSignalRegistration _interrupt;

    public Interruption()
    {
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle);
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle);
    }

    public CancellationToken Token => _source.Token;

    public bool Requested => _source.IsCancellationRequested;

    private void Handle(PosixSignalContext context)
    {
        if (_source.IsCancellationRequested) return;
        context.Cancel = true;
        _source.Cancel();
    }

    public void Dispose()
    {
        _term.Dispose();
        _interrupt.Dispose();
        _source.Dispose();
    }
}
