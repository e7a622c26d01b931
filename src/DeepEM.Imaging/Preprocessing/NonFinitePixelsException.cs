namespace DeepEM.Imaging.Preprocessing;

/// <summary>
/// A micrograph with NaN or infinite pixels is rejected, not repaired: such values come from a broken
/// motion correction or a truncated write, and silently filling them would hide that.
/// </summary>
public sealed class NonFinitePixelsException(long count, long total)
    : Exception($"{count} of {total} pixels are NaN or infinite (rejected: such a micrograph is damaged)")
{
    public long Count { get; } = count;
}
