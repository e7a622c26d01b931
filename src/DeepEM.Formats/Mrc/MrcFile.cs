using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using DeepEM.Imaging;

namespace DeepEM.Formats.Mrc;

/// <summary>
/// An open MRC file (micrograph, or image stack .mrcs). Opening validates the header against the file's
/// length; sections are then read one at a time, so a stack of a million particles never sits in memory whole.
/// </summary>
public sealed class MrcFile : IDisposable
{
    private readonly FileStream _stream;

    private MrcFile(string path, FileStream stream, MrcHeader header)
    {
        Path = path;
        _stream = stream;
        Header = header;
    }

    public string Path { get; }

    public MrcHeader Header { get; }

    public int SectionCount => Header.Nz;

    public static MrcFile Open(string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BadInputException(path, e is FileNotFoundException or DirectoryNotFoundException ? "no such file" : e.Message);
        }
        try
        {
            Span<byte> buffer = stackalloc byte[MrcHeader.Size];
            var read = stream.ReadAtLeast(buffer, MrcHeader.Size, throwOnEndOfStream: false);
            var header = MrcHeader.Parse(buffer[..read], stream.Length, path);
            return new MrcFile(path, stream, header);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads section <paramref name="z"/> (image <paramref name="z"/> of a stack) as float32.</summary>
    public Image2D ReadSection(int z)
    {
        var image = new Image2D(Header.Nx, Header.Ny);
        ReadSectionRows(z, (y, row) => row.CopyTo(image.Row(y)));
        return image;
    }

    /// <summary>What receives a section's rows, in order, as float32; the row is only valid during the call.</summary>
    public delegate void RowSink(int y, ReadOnlySpan<float> row);

    /// <summary>
    /// Reads section <paramref name="z"/> row by row, through a few rows' buffers: a section's bytes can exceed the largest
    /// byte array (a 30000² float32 image is 3.6 GB), and a reader that bins as it goes never holds the section whole.
    /// </summary>
    public void ReadSectionRows(int z, RowSink sink)
    {
        if (z < 0 || z >= Header.Nz)
        {
            throw new ArgumentOutOfRangeException(nameof(z), $"section {z} of {Header.Nz}");
        }
        var h = Header;
        var rowBytes = h.Nx * h.BytesPerVoxel;
        // Rows are read about a megabyte at a time: reads larger than the stream's own buffer go straight from the kernel
        // into ours, and little-endian float32 (what motion correction writes) is read into the rows themselves, undecoded.
        var chunkRows = Math.Clamp(ChunkBytes / Math.Max(1, rowBytes), 1, h.Ny);
        var inPlace = h.Mode == MrcMode.Float32 && !h.BigEndian && BitConverter.IsLittleEndian;
        // Every byte is read or decoded over before it is used: no need for the runtime to zero a megabyte first.
        var rows = GC.AllocateUninitializedArray<float>(chunkRows * h.Nx);
        var raw = inPlace ? [] : GC.AllocateUninitializedArray<byte>(chunkRows * rowBytes);
        _stream.Position = h.DataOffset + z * h.SectionBytes;
        for (var y0 = 0; y0 < h.Ny; y0 += chunkRows)
        {
            var n = Math.Min(chunkRows, h.Ny - y0);
            var bytes = inPlace ? MemoryMarshal.AsBytes(rows.AsSpan(0, n * h.Nx)) : raw.AsSpan(0, n * rowBytes);
            var read = _stream.ReadAtLeast(bytes, bytes.Length, throwOnEndOfStream: false);
            if (read != bytes.Length)
            {
                throw new BadInputException(Path, $"truncated while reading row {y0 + read / rowBytes} of section {z}");
            }
            for (var r = 0; r < n; r++)
            {
                var row = rows.AsSpan(r * h.Nx, h.Nx);
                if (!inPlace) Decode(raw.AsSpan(r * rowBytes, rowBytes), h.Mode, h.BigEndian, row);
                sink(y0 + r, row);
            }
        }
    }

    /// <summary>About how many bytes <see cref="ReadSectionRows"/> reads at a time.</summary>
    private const int ChunkBytes = 1 << 20;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Decode(ReadOnlySpan<byte> raw, MrcMode mode, bool bigEndian, Span<float> dst)
    {
        switch (mode)
        {
            case MrcMode.Int8:
                var s8 = MemoryMarshal.Cast<byte, sbyte>(raw);
                for (var i = 0; i < dst.Length; i++) dst[i] = s8[i];
                break;
            case MrcMode.Int16:
                for (var i = 0; i < dst.Length; i++)
                {
                    var b = raw.Slice(2 * i, 2);
                    dst[i] = bigEndian ? BinaryPrimitives.ReadInt16BigEndian(b) : BinaryPrimitives.ReadInt16LittleEndian(b);
                }
                break;
            case MrcMode.UInt16:
                for (var i = 0; i < dst.Length; i++)
                {
                    var b = raw.Slice(2 * i, 2);
                    dst[i] = bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b);
                }
                break;
            case MrcMode.Float32:
                if (!bigEndian && BitConverter.IsLittleEndian)
                {
                    MemoryMarshal.Cast<byte, float>(raw).CopyTo(dst);
                }
                else
                {
                    for (var i = 0; i < dst.Length; i++)
                    {
                        var b = raw.Slice(4 * i, 4);
                        dst[i] = bigEndian ? BinaryPrimitives.ReadSingleBigEndian(b) : BinaryPrimitives.ReadSingleLittleEndian(b);
                    }
                }
                break;
            case MrcMode.Float16:
                for (var i = 0; i < dst.Length; i++)
                {
                    var b = raw.Slice(2 * i, 2);
                    dst[i] = (float)(bigEndian ? BinaryPrimitives.ReadHalfBigEndian(b) : BinaryPrimitives.ReadHalfLittleEndian(b));
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, null);
        }
    }

    public void Dispose() => _stream.Dispose();
}
