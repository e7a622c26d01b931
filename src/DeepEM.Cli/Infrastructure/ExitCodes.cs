namespace DeepEM.Cli.Infrastructure;

/// <summary>Exit codes of docs/cli.md.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int Fatal = 1;
    public const int Usage = 2;
    public const int SomeInputsFailed = 3;
}
