using System.Net;
using System.Net.Sockets;

namespace DeepEM.Cluster.Nodes;

/// <summary>The port a node is told to listen on is taken by another process.</summary>
public sealed class PortInUseException(string message) : Exception(message);

/// <summary>
/// Refuses a port that another process listens on, before the node starts. The DotNetty transport binds with address
/// reuse, which on Linux also lets a second process listen on the same port (SO_REUSEPORT): two unrelated nodes would
/// share connections at random. This check binds the port the strict way (SO_REUSEADDR only, which still allows the
/// TIME_WAIT leftovers of a node that just died, so a restart on its port works) and lets it go again.
/// </summary>
internal static class PortCheck
{
    public static void EnsureFree(string host, int port)
    {
        if (port == 0) return;
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(host, out var literal) ? [literal] : Dns.GetHostAddresses(host);
        }
        catch (SocketException)
        {
            return; // the transport reports a host it cannot resolve
        }
        foreach (var address in addresses)
        {
            using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            {
                // SOL_SOCKET, SO_REUSEADDR as the platform spells them; .NET's ReuseAddress would add SO_REUSEPORT on Linux.
                var (level, name) = OperatingSystem.IsLinux() ? (1, 2) : (0xffff, 0x4);
                socket.SetRawSocketOption(level, name, BitConverter.GetBytes(1));
            }
            else
            {
                socket.ExclusiveAddressUse = true;
            }
            try
            {
                socket.Bind(new IPEndPoint(address, port));
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
            {
                throw new PortInUseException($"port {port} on {host} is in use by another process (another node?): choose another --port");
            }
            catch (SocketException)
            {
                // Not an address of this machine, or not allowed: the transport says so when it binds.
            }
        }
    }
}
