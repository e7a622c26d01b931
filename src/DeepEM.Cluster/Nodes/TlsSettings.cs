using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Configuration;
using Akka.Remote.Transport.DotNetty;

namespace DeepEM.Cluster.Nodes;

/// <summary>
/// TLS for remoting (<c>deepem.tls</c> in reference.conf): every connection between nodes, and between a client
/// (pick/train/status --join) and the nodes, is TLS with mutual authentication: each side shows the cluster's
/// certificate and checks the other's. A process without the certificate cannot join.
/// <para>
/// <c>trust = pinned</c> (the default) accepts exactly the certificate this node holds, plus any thumbprints in
/// <c>trusted-thumbprints</c> (for a rotation): right for the usual self-signed cluster certificate, which no system
/// trust store knows. <c>trust = system</c> accepts any certificate that chains to the system's trusted roots (a
/// site CA). Akka's own HOCON switch cannot express the pinned case: with its validation suppressed, any certificate
/// would do; so the certificate and its check are given to Akka in code (<see cref="DotNettySslSetup"/>).
/// </para>
/// </summary>
internal sealed record TlsSettings(string CertificatePath, string Password, string Trust, IReadOnlyList<string> TrustedThumbprints)
{
    public bool Enabled => CertificatePath.Length > 0;

    /// <summary>The address scheme of a cluster with or without TLS.</summary>
    public string Protocol => Enabled ? "akka.ssl.tcp" : "akka.tcp";

    public static TlsSettings From(Config config)
    {
        var tls = config.GetConfig("deepem.tls");
        var trust = tls?.GetString("trust", "pinned") ?? "pinned";
        if (trust is not ("pinned" or "system")) throw new ArgumentException($"deepem.tls.trust = {trust}: pinned or system");
        return new TlsSettings(tls?.GetString("certificate", "") ?? "", tls?.GetString("password", "") ?? "", trust,
            tls?.GetStringList("trusted-thumbprints")?.ToList() ?? []);
    }

    /// <summary>The certificate and its check, for the actor system's setup; one clear line if the file is unusable.</summary>
    public DotNettySslSetup Setup()
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509CertificateLoader.LoadPkcs12FromFile(CertificatePath, Password.Length == 0 ? null : Password);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{CertificatePath}: cannot load the TLS certificate (deepem.tls.certificate, a PKCS#12 .pfx/.p12 with its key): {e.Message}");
        }
        if (!certificate.HasPrivateKey) throw new ArgumentException($"{CertificatePath}: the TLS certificate has no private key");
        var validator = Trust == "pinned"
            ? CertificateValidation.PinnedCertificate([certificate.Thumbprint, .. TrustedThumbprints])
            : CertificateValidation.ValidateChain(null);
        return new DotNettySslSetup(certificate, suppressValidation: false, requireMutualAuthentication: true, validator);
    }
}
