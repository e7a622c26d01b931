using System.CommandLine;
using System.Globalization;
using DeepEM.Cli.Infrastructure;
using DeepEM.Formats;
using DeepEM.Formats.Mrc;
using DeepEM.Imaging;
using DeepEM.Numerics.ModelFile;

namespace DeepEM.Cli.Commands;

/// <summary><c>deepem info</c>: what each micrograph (or stack) is; a bad file gets its one error line and the others go on.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var paths = new Argument<string[]>("PATH") { Description = "micrograph or model files, folders or glob patterns", Arity = ArgumentArity.OneOrMore }.RejectingFlags();
        var command = new Command("info", "Dimensions, mode, pixel size and value statistics of micrographs and stacks; architecture and training record of model files.") { paths };
        command.SetAction(parse => Terminal.Run(() =>
        {
            var expansion = InputPaths.Expand(parse.GetValue(paths)!,
                f => MicrographReader.IsMicrographFile(f) || f.EndsWith(TrainedModel.Extension, StringComparison.OrdinalIgnoreCase));
            var failed = 0;
            foreach (var missing in expansion.Missing)
            {
                Terminal.Error(missing);
                failed++;
            }
            foreach (var file in expansion.Files)
            {
                try
                {
                    Console.Out.WriteLine(Describe(file));
                }
                catch (BadInputException e)
                {
                    Terminal.Error(e);
                    failed++;
                }
                catch (InvalidModelException e)
                {
                    Terminal.Error(e.Message);
                    failed++;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or OutOfMemoryException)
                {
                    Terminal.Error($"{file}: {e.Message}");
                    failed++;
                }
            }
            return failed > 0 ? ExitCodes.SomeInputsFailed : ExitCodes.Success;
        }));
        return command;
    }

    private static string Describe(string file)
    {
        var ext = Path.GetExtension(file).ToLowerInvariant();
        if (ext == TrainedModel.Extension)
        {
            var model = TrainedModel.Load(file);
            var t = model.Training;
            // The thresholds per criterion with what their calibration expects, for a user choosing --threshold auto-f1 or auto-f2.
            var thresholds = string.Concat(t.Thresholds.Select(c => string.Create(CultureInfo.InvariantCulture,
                $"; auto-{c.Criterion} {c.Threshold:0.###} (expected precision {c.Precision:0.00}, recall {c.Recall:0.00})")));
            var labels = (t.LabelledFraction is > 0 and < 1 ? string.Create(CultureInfo.InvariantCulture, $", sparse labels (about {t.LabelledFraction:P0} of the particles)") : "") +
                         (t.KeptClearPicks > 0 ? $", a second round with random non-particles kept clear of {t.KeptClearPicks} picks of the first" : "") +
                         (t.BatchNormBoxes > 0 ? $", batch normalisation folded ({t.BatchNormBoxes} boxes' statistics)" : "");
            return $"{file}: DeepEM model {model.Describe()}{thresholds}; trained on {t.Micrographs.Count} micrographs " +
                   $"({t.Positives} particles, {t.Negatives} non-particles{labels}), {t.Epochs} epochs, seed {t.Seed}, deepem {t.ProgramVersion}";
        }
        if (ext is ".mrc" or ".mrcs")
        {
            using var mrc = MrcFile.Open(file);
            var h = mrc.Header;
            if (h.Nz > 1)
            {
                // A stack: statistics of the first image only, so that a million-particle stack answers at once.
                var first = mrc.ReadSection(0);
                return Line(file, $"stack of {h.Nz} images {h.Nx} x {h.Ny}", MrcModes.Describe(h.Mode), h.PixelSizeAngstrom, Checked(file, first), "first image");
            }
        }
        var micrograph = MicrographReader.Read(file);
        return Line(file, $"{micrograph.Image.Width} x {micrograph.Image.Height}", micrograph.FormatDescription,
            micrograph.PixelSizeAngstrom, Checked(file, micrograph.Image), null);
    }

    private static ImageStatistics Checked(string file, Image2D image)
    {
        var stats = ImageStatistics.Of(image);
        if (stats.NonFinite > 0)
        {
            throw new BadInputException(file, $"{stats.NonFinite} of {image.Data.LongLength} pixels are NaN or infinite (rejected: the image is damaged)");
        }
        return stats;
    }

    private static string Line(string file, string size, string mode, double? pixelSize, ImageStatistics s, string? note)
    {
        var ps = pixelSize is { } p ? string.Create(CultureInfo.InvariantCulture, $"{p:0.###} Å/px") : "pixel size unset";
        return string.Create(CultureInfo.InvariantCulture,
            $"{file}: {size}, {mode}, {ps}, min {s.Min:G6} max {s.Max:G6} mean {s.Mean:G6} std {s.StdDev:G6}{(note is null ? "" : $" ({note})")}");
    }
}
