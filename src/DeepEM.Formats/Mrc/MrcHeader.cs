using System.Buffers.Binary;
using System.Text;

namespace DeepEM.Formats.Mrc;

/// <summary>
/// The 1024-byte main header of an MRC 2014 file, with the fields a micrograph reader needs.
/// Field offsets follow the MRC2014 standard (Cheng et al., J. Struct. Biol. 192, 2015).
/// </summary>
public sealed record MrcHeader
{
    public const int Size = 1024;

    /// <summary>Largest width or height accepted: four times a K3 super-resolution frame.</summary>
    public const int MaxSectionDimension = 1 << 17;

    /// <summary>Largest number of sections (images in a stack) accepted.</summary>
    public const int MaxSections = 1 << 26;

    public required int Nx { get; init; }
    public required int Ny { get; init; }
    public required int Nz { get; init; }
    public required MrcMode Mode { get; init; }
    public int Mx { get; init; }
    public int My { get; init; }
    public int Mz { get; init; }
    public float CellX { get; init; }
    public float CellY { get; init; }
    public float CellZ { get; init; }
    public int MapC { get; init; } = 1;
    public int MapR { get; init; } = 2;
    public int MapS { get; init; } = 3;
    public float DMin { get; init; }
    public float DMax { get; init; }
    public float DMean { get; init; }
    public int SpaceGroup { get; init; }
    public int ExtendedHeaderBytes { get; init; }
    public string ExtendedType { get; init; } = "";
    public int Version { get; init; }
    public float Rms { get; init; }
    public bool BigEndian { get; init; }
    public bool HasMapStamp { get; init; }
    public IReadOnlyList<string> Labels { get; init; } = [];

    /// <summary>Pixel size in Å (cell length over sampling), or null where the header leaves it unset.</summary>
    public double? PixelSizeAngstrom =>
        Mx > 0 && CellX > 0 && float.IsFinite(CellX) ? CellX / (double)Mx : null;

    /// <summary>True for an image stack (.mrcs): several 2D images rather than one volume.</summary>
    public bool IsImageStack => Nz > 1 && SpaceGroup == 0;

    public int BytesPerVoxel => MrcModes.BytesPerVoxel(Mode);

    public long SectionBytes => (long)Nx * Ny * BytesPerVoxel;

    public long DataOffset => Size + (long)ExtendedHeaderBytes;

    public long DataBytes => SectionBytes * Nz;

    /// <summary>
    /// Parses and validates a header read from <paramref name="path"/> whose file is <paramref name="fileLength"/>
    /// bytes long. Every check happens here, before anything the header claims is allocated.
    /// </summary>
    public static MrcHeader Parse(ReadOnlySpan<byte> headerBytes, long fileLength, string path)
    {
        var h = headerBytes.ToArray();
        if (fileLength == 0)
        {
            throw new BadInputException(path, "empty file (0 bytes), not an MRC file");
        }
        if (h.Length < Size || fileLength < Size)
        {
            throw new BadInputException(path, $"too short for an MRC file ({fileLength} bytes; the header alone is {Size})");
        }
        var hasStamp = h[208] == (byte)'M' && h[209] == (byte)'A' && h[210] == (byte)'P';
        // MACHST: 0x44 0x44/0x41 little-endian, 0x11 0x11 big-endian. Files without a stamp predate MRC2000:
        // guess the byte order from which reading gives a known mode.
        bool bigEndian;
        if (hasStamp && (h[212] == 0x11 || h[212] == 0x44 || h[212] == 0x41))
        {
            bigEndian = h[212] == 0x11;
        }
        else
        {
            var modeLe = BinaryPrimitives.ReadInt32LittleEndian(h.AsSpan(12));
            var modeBe = BinaryPrimitives.ReadInt32BigEndian(h.AsSpan(12));
            bigEndian = !MrcModes.IsSupported(modeLe) && MrcModes.IsSupported(modeBe);
        }

        int I(int offset) => bigEndian ? BinaryPrimitives.ReadInt32BigEndian(h.AsSpan(offset)) : BinaryPrimitives.ReadInt32LittleEndian(h.AsSpan(offset));
        float F(int offset) => bigEndian ? BinaryPrimitives.ReadSingleBigEndian(h.AsSpan(offset)) : BinaryPrimitives.ReadSingleLittleEndian(h.AsSpan(offset));

        int nx = I(0), ny = I(4), nz = I(8), mode = I(12);
        int mapc = I(64), mapr = I(68), maps = I(72);
        var plausible = nx > 0 && ny > 0 && nz > 0 && nx <= MaxSectionDimension && ny <= MaxSectionDimension && nz <= MaxSections;
        if (!hasStamp && (!plausible || !MrcModes.IsSupported(mode)))
        {
            throw new BadInputException(path, "not an MRC file (no 'MAP ' stamp at byte 208 and the header makes no sense)");
        }
        if (!MrcModes.IsSupported(mode))
        {
            throw new BadInputException(path, $"unsupported MRC mode {mode} (supported: 0 int8, 1 int16, 2 float32, 6 uint16, 12 float16)");
        }
        if (!plausible)
        {
            throw new BadInputException(path, $"absurd dimensions {nx} x {ny} x {nz} in the header (each must be 1..{MaxSectionDimension}, sections 1..{MaxSections})");
        }
        if ((long)nx * ny > Array.MaxLength)
        {
            throw new BadInputException(path, $"image {nx} x {ny} is too large for one section in memory");
        }
        if (!((mapc, mapr, maps) is (1, 2, 3) or (0, 0, 0)))
        {
            throw new BadInputException(path, $"axis order MAPC/MAPR/MAPS = {mapc},{mapr},{maps} is not supported (micrographs are 1,2,3)");
        }
        var nsymbt = I(92);
        if (nsymbt < 0 || Size + (long)nsymbt > fileLength)
        {
            throw new BadInputException(path, $"extended header size NSYMBT = {nsymbt} is negative or runs past the end of the file ({fileLength} bytes)");
        }
        var header = new MrcHeader
        {
            Nx = nx, Ny = ny, Nz = nz, Mode = (MrcMode)mode,
            Mx = I(28), My = I(32), Mz = I(36),
            CellX = F(40), CellY = F(44), CellZ = F(48),
            MapC = mapc, MapR = mapr, MapS = maps,
            DMin = F(76), DMax = F(80), DMean = F(84),
            SpaceGroup = I(88),
            ExtendedHeaderBytes = nsymbt,
            ExtendedType = Encoding.ASCII.GetString(h, 104, 4).TrimEnd('\0', ' '),
            Version = I(108),
            Rms = F(216),
            BigEndian = bigEndian,
            HasMapStamp = hasStamp,
            Labels = ReadLabels(h, Math.Clamp(I(220), 0, 10)),
        };
        var available = fileLength - header.DataOffset;
        if (header.DataBytes > available)
        {
            throw new BadInputException(path,
                $"truncated: the header describes {nx} x {ny} x {nz} {MrcModes.Describe(header.Mode)} ({header.DataBytes} bytes of data) but the file holds only {available} bytes after the headers");
        }
        return header;
    }

    private static string[] ReadLabels(byte[] h, int count)
    {
        var labels = new string[count];
        for (var i = 0; i < count; i++)
        {
            labels[i] = Encoding.ASCII.GetString(h, 224 + 80 * i, 80).TrimEnd('\0', ' ');
        }
        return labels;
    }

    /// <summary>Serialises a little-endian MRC2014 header.</summary>
    public byte[] ToBytes()
    {
        var h = new byte[Size];
        void I(int offset, int v) => BinaryPrimitives.WriteInt32LittleEndian(h.AsSpan(offset), v);
        void F(int offset, float v) => BinaryPrimitives.WriteSingleLittleEndian(h.AsSpan(offset), v);
        I(0, Nx); I(4, Ny); I(8, Nz); I(12, (int)Mode);
        I(16, 0); I(20, 0); I(24, 0);
        I(28, Mx); I(32, My); I(36, Mz);
        F(40, CellX); F(44, CellY); F(48, CellZ);
        F(52, 90); F(56, 90); F(60, 90);
        I(64, 1); I(68, 2); I(72, 3);
        F(76, DMin); F(80, DMax); F(84, DMean);
        I(88, SpaceGroup);
        I(92, ExtendedHeaderBytes);
        Encoding.ASCII.GetBytes(ExtendedType.PadRight(4, ' ')[..4]).CopyTo(h, 104);
        I(108, Version == 0 ? 20140 : Version);
        "MAP "u8.CopyTo(h.AsSpan(208));
        h[212] = 0x44; h[213] = 0x44; h[214] = 0; h[215] = 0;
        F(216, Rms);
        var labels = Labels.Take(10).ToArray();
        I(220, labels.Length);
        for (var i = 0; i < labels.Length; i++)
        {
            var text = labels[i].Length > 80 ? labels[i][..80] : labels[i];
            Encoding.ASCII.GetBytes(text).CopyTo(h, 224 + 80 * i);
        }
        return h;
    }
}
