using System.Buffers.Binary;
using System.Security.Cryptography;
using DeepEM.Numerics.ModelFile.Proto;
using DeepEM.Numerics.Network;
using Google.Protobuf;

namespace DeepEM.Numerics.ModelFile;

/// <summary>
/// A trained network with everything picking needs (preprocessing, threshold, standard-deviation range)
/// and the record of how it was trained, as stored in a <c>.deepem</c> file (protos/model.proto).
/// </summary>
public sealed class TrainedModel
{
    public const uint FormatVersion = 1;
    public const string Extension = ".deepem";

    public TrainedModel(NetworkArchitecture architecture, float[] parameters, Preprocessing preprocessing,
        float threshold, float stdMin, float stdMax, TrainingRecord training)
    {
        if (parameters.Length != architecture.ParameterCount)
        {
            throw new ArgumentException($"{parameters.Length} parameters for a network of {architecture.ParameterCount}");
        }
        Architecture = architecture;
        Parameters = parameters;
        Preprocessing = preprocessing;
        Threshold = threshold;
        StdMin = stdMin;
        StdMax = stdMax;
        Training = training;
    }

    public NetworkArchitecture Architecture { get; }

    public float[] Parameters { get; }

    public Preprocessing Preprocessing { get; }

    public float Threshold { get; }

    public float StdMin { get; }

    public float StdMax { get; }

    public TrainingRecord Training { get; }

    /// <summary>SHA-256 of the parameters (little-endian float32), hex: the model's version for caches and replicas.</summary>
    public string ParametersHash => Convert.ToHexStringLower(HashParameters(Parameters));

    public static byte[] HashParameters(float[] parameters)
    {
        var bytes = new byte[parameters.Length * 4];
        for (var i = 0; i < parameters.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), parameters[i]);
        }
        return SHA256.HashData(bytes);
    }

    public byte[] ToBytes()
    {
        var message = new Model
        {
            FormatVersion = FormatVersion,
            Architecture = new Proto.Architecture
            {
                Preset = Architecture.Preset,
                BoxSize = Architecture.BoxSize,
                Activation = Architecture.Activation.ToString().ToLowerInvariant(),
            },
            ParametersSha256 = ByteString.CopyFrom(HashParameters(Parameters)),
            Preprocessing = Preprocessing,
            Threshold = Threshold,
            StdMin = StdMin,
            StdMax = StdMax,
            Training = Training,
        };
        message.Architecture.Stages.AddRange(Architecture.Specs.Select(s => new Stage { Maps = s.Maps, Kernel = s.Kernel, Pool = s.Pool }));
        message.Parameters.AddRange(Parameters);
        return message.ToByteArray();
    }

    /// <summary>Parses and checks a model file's bytes; anything damaged or incompatible is refused with the reason.</summary>
    public static TrainedModel FromBytes(byte[] bytes, string path)
    {
        if (bytes.Length == 0)
        {
            throw new InvalidModelException(path, "empty file, not a DeepEM model");
        }
        Model message;
        try
        {
            message = Model.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidModelException(path, $"not a DeepEM model, or a damaged one ({e.Message.TrimEnd('.')})");
        }
        if (message.FormatVersion == 0 || message.Architecture is null)
        {
            throw new InvalidModelException(path, "not a DeepEM model (no format version or architecture)");
        }
        if (message.FormatVersion > FormatVersion)
        {
            throw new InvalidModelException(path, $"model format {message.FormatVersion} is newer than this program reads ({FormatVersion}); update deepem");
        }
        var a = message.Architecture;
        if (!Enum.TryParse<Activation>(a.Activation, ignoreCase: true, out var activation))
        {
            throw new InvalidModelException(path, $"unknown activation '{a.Activation}'");
        }
        NetworkArchitecture architecture;
        try
        {
            architecture = new NetworkArchitecture(a.Preset, a.BoxSize, a.Stages.Select(s => new StageSpec(s.Maps, s.Kernel, s.Pool)).ToList(), activation);
        }
        catch (ArgumentException e)
        {
            throw new InvalidModelException(path, $"impossible architecture: {e.Message}");
        }
        var parameters = message.Parameters.ToArray();
        if (parameters.Length != architecture.ParameterCount)
        {
            throw new InvalidModelException(path, $"holds {parameters.Length} parameters, its architecture needs {architecture.ParameterCount} (truncated or damaged)");
        }
        if (!HashParameters(parameters).AsSpan().SequenceEqual(message.ParametersSha256.Span))
        {
            throw new InvalidModelException(path, "parameters do not match their SHA-256 (the file is damaged)");
        }
        if (parameters.Any(v => !float.IsFinite(v)))
        {
            throw new InvalidModelException(path, "parameters contain NaN or infinity (training diverged)");
        }
        var pre = message.Preprocessing ?? throw new InvalidModelException(path, "no preprocessing record");
        if (pre.Binning < 1 || pre.BoxSizeOriginal < 1)
        {
            throw new InvalidModelException(path, $"impossible preprocessing (binning {pre.Binning}, box {pre.BoxSizeOriginal})");
        }
        if (!(message.Threshold is >= 0 and <= 1) || !(message.StdMin <= message.StdMax))
        {
            throw new InvalidModelException(path, $"impossible threshold {message.Threshold} or standard-deviation range {message.StdMin}..{message.StdMax}");
        }
        return new TrainedModel(architecture, parameters, pre, message.Threshold, message.StdMin, message.StdMax, message.Training ?? new TrainingRecord());
    }

    public static TrainedModel Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidModelException(path, e is FileNotFoundException ? "no such file" : e.Message);
        }
        return FromBytes(bytes, path);
    }

    public string Describe() =>
        $"{Architecture.Describe()}; binning {Preprocessing.Binning} ({Preprocessing.BinningMethod}), box {Preprocessing.BoxSizeOriginal} px" +
        (Preprocessing.PixelSizeAngstrom > 0 ? $" at {Preprocessing.PixelSizeAngstrom:0.###} Å/px" : "") +
        $"; threshold {Threshold:0.###}, particle std {StdMin:0.###}..{StdMax:0.###}; validation accuracy {Training.ValidationAccuracy:P1}; model {ParametersHash[..12]}";
}
