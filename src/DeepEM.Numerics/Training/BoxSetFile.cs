using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace DeepEM.Numerics.Training;

/// <summary>
/// A training set on disk, for nodes that train with it: "DEEMBOX1", int32 box size, int32 count (little-endian),
/// the count labels as float32, then the boxes' pixels as float32, box after box. A raw layout rather than
/// protobuf because a large set is hundreds of megabytes, beyond what one protobuf message should hold.
/// </summary>
public static class BoxSetFile
{
    private static readonly byte[] Magic = Encoding.ASCII.GetBytes("DEEMBOX1");

    public static byte[] ToBytes(BoxSet set)
    {
        var pixels = set.BoxSize * set.BoxSize;
        var bytes = new byte[16 + 4L * set.Count * (1 + pixels) is var n && n <= Array.MaxLength ? (int)n : throw new ArgumentException($"a training set of {set.Count} boxes does not fit one file here")];
        Magic.CopyTo(bytes, 0);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), set.BoxSize);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(12), set.Count);
        var labels = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(16, 4 * set.Count));
        var boxes = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(16 + 4 * set.Count));
        for (var i = 0; i < set.Count; i++)
        {
            labels[i] = set.Label(i);
            set.Box(i).CopyTo(boxes.Slice(i * pixels, pixels));
        }
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian hosts are not supported");
        return bytes;
    }

    /// <summary>Reads a training set; <see cref="ArgumentException"/> with the reason if the bytes are not one.</summary>
    public static BoxSet FromBytes(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.Length < 16 || !bytes[..8].SequenceEqual(Magic)) throw new ArgumentException($"{source}: not a DeepEM training-set file");
        var size = BinaryPrimitives.ReadInt32LittleEndian(bytes[8..]);
        var count = BinaryPrimitives.ReadInt32LittleEndian(bytes[12..]);
        if (size is < 1 or > 4096 || count < 0 || 16 + 4L * count * (1 + (long)size * size) != bytes.Length)
        {
            throw new ArgumentException($"{source}: box size {size} and {count} boxes do not match its {bytes.Length} bytes");
        }
        var pixels = size * size;
        var labels = MemoryMarshal.Cast<byte, float>(bytes.Slice(16, 4 * count));
        var boxes = MemoryMarshal.Cast<byte, float>(bytes[(16 + 4 * count)..]);
        var set = new BoxSet(size);
        for (var i = 0; i < count; i++) set.Add(boxes.Slice(i * pixels, pixels), labels[i]);
        return set;
    }
}

/// <summary>Parameter vectors as bytes (little-endian float32), for files and messages.</summary>
public static class FloatBytes
{
    public static byte[] ToBytes(ReadOnlySpan<float> values) => MemoryMarshal.AsBytes(values).ToArray();

    public static float[] FromBytes(ReadOnlySpan<byte> bytes, string source)
    {
        if (bytes.Length % 4 != 0) throw new ArgumentException($"{source}: {bytes.Length} bytes is not a whole number of float32 values");
        return MemoryMarshal.Cast<byte, float>(bytes).ToArray();
    }

    /// <summary>SHA-256 (hex) of the values' bytes: replicas of one weights version hash alike.</summary>
    public static string Sha256Hex(ReadOnlySpan<float> values) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(MemoryMarshal.AsBytes(values)));
}
