using System.Buffers.Binary;
using DeepEM.Imaging;

namespace DeepEM.Formats.Mrc;

/// <summary>
/// Writes MRC2014 files (little-endian, no extended header): one image, or a stack of same-sized images
/// (ISPG 0, as .mrcs). Integer modes round to nearest and saturate. Written atomically.
/// </summary>
public static class MrcWriter
{
    public const string Label = "DeepEM.Cluster";

    public static void Write(string path, Image2D image, MrcMode mode = MrcMode.Float32, double? pixelSizeAngstrom = null) =>
        WriteStack(path, [image], mode, pixelSizeAngstrom);

    public static void WriteStack(string path, IReadOnlyList<Image2D> images, MrcMode mode = MrcMode.Float32, double? pixelSizeAngstrom = null)
    {
        if (images.Count == 0)
        {
            throw new ArgumentException("an MRC file needs at least one image", nameof(images));
        }
        var nx = images[0].Width;
        var ny = images[0].Height;
        if (images.Any(i => i.Width != nx || i.Height != ny))
        {
            throw new ArgumentException("all images of a stack must have the same size", nameof(images));
        }
        // Statistics of the values as stored (after conversion), as the standard asks.
        var stats = new StoredStatistics();
        var encoded = new byte[images.Count][];
        for (var z = 0; z < images.Count; z++)
        {
            encoded[z] = Encode(images[z].Data, mode, ref stats);
        }
        var (min, max, sum, sumSq, n) = (stats.Min, stats.Max, stats.Sum, stats.SumSq, stats.Count);
        var mean = n > 0 ? sum / n : 0;
        var rms = n > 0 ? Math.Sqrt(Math.Max(0, sumSq / n - mean * mean)) : 0;
        var ps = pixelSizeAngstrom ?? 1.0;
        var header = new MrcHeader
        {
            Nx = nx, Ny = ny, Nz = images.Count, Mode = mode,
            Mx = nx, My = ny, Mz = 1,
            CellX = (float)(nx * ps), CellY = (float)(ny * ps), CellZ = (float)ps,
            DMin = n > 0 ? (float)min : 0, DMax = n > 0 ? (float)max : 0, DMean = (float)mean, Rms = (float)rms,
            SpaceGroup = 0,
            Version = 20140,
            HasMapStamp = true,
            Labels = [Label],
        };
        IO.AtomicFile.Write(path, stream =>
        {
            stream.Write(header.ToBytes());
            foreach (var bytes in encoded)
            {
                stream.Write(bytes);
            }
        });
    }

    private struct StoredStatistics()
    {
        public double Min = double.PositiveInfinity, Max = double.NegativeInfinity, Sum, SumSq;
        public long Count;

        public void Add(double v)
        {
            if (!double.IsFinite(v)) return;
            if (v < Min) Min = v;
            if (v > Max) Max = v;
            Sum += v;
            SumSq += v * v;
            Count++;
        }
    }

    private static byte[] Encode(float[] data, MrcMode mode, ref StoredStatistics stats)
    {
        var bpv = MrcModes.BytesPerVoxel(mode);
        var bytes = new byte[(long)data.Length * bpv];
        var span = bytes.AsSpan();
        for (var i = 0; i < data.Length; i++)
        {
            var v = data[i];
            switch (mode)
            {
                case MrcMode.Int8:
                    var b = (sbyte)Math.Clamp(MathF.Round(v), sbyte.MinValue, sbyte.MaxValue);
                    bytes[i] = unchecked((byte)b);
                    stats.Add(b);
                    break;
                case MrcMode.Int16:
                    var s = (short)Math.Clamp(MathF.Round(v), short.MinValue, short.MaxValue);
                    BinaryPrimitives.WriteInt16LittleEndian(span[(2 * i)..], s);
                    stats.Add(s);
                    break;
                case MrcMode.UInt16:
                    var u = (ushort)Math.Clamp(MathF.Round(v), ushort.MinValue, ushort.MaxValue);
                    BinaryPrimitives.WriteUInt16LittleEndian(span[(2 * i)..], u);
                    stats.Add(u);
                    break;
                case MrcMode.Float32:
                    BinaryPrimitives.WriteSingleLittleEndian(span[(4 * i)..], v);
                    stats.Add(v);
                    break;
                case MrcMode.Float16:
                    var hv = (Half)v;
                    BinaryPrimitives.WriteHalfLittleEndian(span[(2 * i)..], hv);
                    stats.Add((double)hv);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(mode), mode, null);
            }
        }
        return bytes;
    }
}
