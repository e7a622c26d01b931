using Akka.Actor;

namespace DeepEM.Cluster.Internal;

/// <summary>
/// Slow work of an actor (reading and writing files, validating a network) run off its thread, one piece after
/// another in the order asked, each answer told to the actor when it is ready; so answers arrive in that order too
/// (a checkpoint's before the result that follows it). An answer of null tells nothing; an expected failure
/// (<see cref="ArgumentException"/>, <see cref="IOException"/>, a refused access, a state that does not fit, a damaged
/// protobuf file) becomes the answer that the caller's <c>failed</c> makes of its message; any other exception too, with its
/// type, so that none is lost.
/// </summary>
internal sealed class SerialWork(IActorRef actor)
{
    private Task _last = Task.CompletedTask;

    /// <summary>Runs <paramref name="work"/> after what was asked before; <paramref name="failed"/> answers for it when it fails.</summary>
    public void Run(Func<object?> work, Func<string, object?> failed)
    {
        _last = _last.ContinueWith(_ =>
        {
            object? answer;
            try
            {
                answer = work();
            }
            catch (Exception e) when (e is ArgumentException or IOException or UnauthorizedAccessException or InvalidOperationException
                                          or Google.Protobuf.InvalidProtocolBufferException)
            {
                answer = failed(e.Message);
            }
            catch (Exception e)
            {
                // Anything else (a backend disposed under a validation after its training failed, a bug) would vanish in
                // a faulted task that nobody observes: it becomes a failure that the actor logs, with its type.
                answer = failed($"{e.GetType().Name}: {e.Message}");
            }
            if (answer is not null) actor.Tell(answer);
        }, TaskScheduler.Default);
    }
}
