using System.Buffers.Binary;
using System.IO.Compression;
using System.IO.Hashing;
using BitMiracle.LibTiff.Classic;
using StbImageWriteSharp;

namespace DeepEM.Formats.Tests.Images;

/// <summary>Writes test images with maintained libraries (and a minimal 16-bit PNG, which StbImageWrite lacks).</summary>
internal static class TestImageFiles
{
    public static void WritePng8(string path, byte[] pixels, int w, int h)
    {
        using var s = File.Create(path);
        new ImageWriter().WritePng(pixels, w, h, ColorComponents.Grey, s);
    }

    public static void WriteJpeg(string path, byte[] pixels, int w, int h)
    {
        using var s = File.Create(path);
        new ImageWriter().WriteJpg(pixels, w, h, ColorComponents.Grey, s, 95);
    }

    /// <summary>A greyscale 16-bit PNG: signature, IHDR (bit depth 16, colour type 0), one zlib IDAT, IEND.</summary>
    public static void WritePng16(string path, ushort[] pixels, int w, int h)
    {
        var raw = new byte[h * (1 + 2 * w)];
        for (var y = 0; y < h; y++)
        {
            var row = y * (1 + 2 * w);
            raw[row] = 0; // filter: none
            for (var x = 0; x < w; x++) BinaryPrimitives.WriteUInt16BigEndian(raw.AsSpan(row + 1 + 2 * x), pixels[y * w + x]);
        }
        using var compressed = new MemoryStream();
        using (var z = new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true)) z.Write(raw);
        using var file = File.Create(path);
        file.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, w);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), h);
        ihdr[8] = 16; ihdr[9] = 0; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
        Chunk(file, "IHDR", ihdr);
        Chunk(file, "IDAT", compressed.ToArray());
        Chunk(file, "IEND", []);
    }

    private static void Chunk(Stream s, string type, byte[] data)
    {
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, data.Length);
        System.Text.Encoding.ASCII.GetBytes(type).CopyTo(header, 4);
        s.Write(header);
        s.Write(data);
        var crc = new Crc32();
        crc.Append(header.AsSpan(4));
        crc.Append(data);
        var c = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(c, crc.GetCurrentHashAsUInt32());
        s.Write(c);
    }

    public static void WriteTiff(string path, int w, int h, int bits, SampleFormat format, Func<int, int, double> value)
    {
        using var tiff = Tiff.Open(path, "w");
        tiff.SetField(TiffTag.IMAGEWIDTH, w);
        tiff.SetField(TiffTag.IMAGELENGTH, h);
        tiff.SetField(TiffTag.BITSPERSAMPLE, bits);
        tiff.SetField(TiffTag.SAMPLESPERPIXEL, 1);
        tiff.SetField(TiffTag.SAMPLEFORMAT, format);
        tiff.SetField(TiffTag.PHOTOMETRIC, Photometric.MINISBLACK);
        tiff.SetField(TiffTag.PLANARCONFIG, PlanarConfig.CONTIG);
        tiff.SetField(TiffTag.ROWSPERSTRIP, h);
        var line = new byte[w * bits / 8];
        for (var y = 0; y < h; y++)
        {
            for (var x = 0; x < w; x++)
            {
                var v = value(x, y);
                switch (bits)
                {
                    case 8: line[x] = (byte)v; break;
                    case 16: BinaryPrimitives.WriteUInt16LittleEndian(line.AsSpan(2 * x), (ushort)v); break;
                    case 32: BinaryPrimitives.WriteSingleLittleEndian(line.AsSpan(4 * x), (float)v); break;
                }
            }
            tiff.WriteScanline(line, y);
        }
    }
}
