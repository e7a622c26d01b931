using System.Globalization;
using System.Text;

namespace DeepEM.Formats.Star;

/// <summary>A table of a STAR file: column labels (without the leading underscore) in file order, and rows of text.</summary>
public sealed class StarTable(IReadOnlyList<string> columns)
{
    public IReadOnlyList<string> Columns { get; } = columns;

    public List<string[]> Rows { get; } = [];

    /// <summary>Index of column <paramref name="label"/> (with or without '_'), case-sensitive as RELION is; -1 if absent.</summary>
    public int IndexOf(string label)
    {
        var name = label.TrimStart('_');
        for (var i = 0; i < Columns.Count; i++)
        {
            if (Columns[i] == name) return i;
        }
        return -1;
    }

    public bool Has(string label) => IndexOf(label) >= 0;
}

/// <summary>One <c>data_</c> block: key-value pairs and any number of loops, in file order.</summary>
public sealed class StarBlock(string name)
{
    public string Name { get; } = name;

    public List<KeyValuePair<string, string>> Pairs { get; } = [];

    public List<StarTable> Loops { get; } = [];

    public string? Value(string key)
    {
        var name = key.TrimStart('_');
        foreach (var pair in Pairs)
        {
            if (pair.Key == name) return pair.Value;
        }
        return null;
    }

    /// <summary>The first loop that has all the given columns, or null.</summary>
    public StarTable? LoopWith(params string[] labels) =>
        Loops.FirstOrDefault(l => labels.All(l.Has));
}

/// <summary>
/// STAR files as RELION and crYOLO write them: several <c>data_</c> blocks, <c>#</c> comments, key-value
/// pairs and <c>loop_</c> tables with columns in any order, quoted values, and semicolon text fields.
/// Loop values are read as a token stream and cut into rows by the column count, as the STAR grammar has it
/// (a row may span lines), and a loop whose value count is not a multiple of its column count is an error.
/// </summary>
public sealed class StarFile
{
    public List<StarBlock> Blocks { get; } = [];

    public StarBlock? Block(string name) => Blocks.FirstOrDefault(b => b.Name == name);

    /// <summary>The first loop in any block that has all the given columns.</summary>
    public StarTable? FindLoop(params string[] labels) =>
        Blocks.Select(b => b.LoopWith(labels)).FirstOrDefault(t => t is not null);

    public static StarFile Read(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BadInputException(path, e is FileNotFoundException ? "no such file" : e.Message);
        }
        return Parse(text, path);
    }

    public static StarFile Parse(string text, string path)
    {
        var file = new StarFile();
        var lines = text.Replace("\r\n", "\n").Split('\n');
        StarBlock? block = null;
        StarTable? loop = null;
        var loopValues = new List<string>();
        var inLoopHeader = false;
        var loopStartLine = 0;

        void CloseLoop()
        {
            if (loop is null) return;
            var n = loop.Columns.Count;
            if (loopValues.Count % n != 0)
            {
                throw new BadInputException(path, $"line {loopStartLine}: loop of {n} columns has {loopValues.Count} values, not a whole number of rows");
            }
            for (var i = 0; i < loopValues.Count; i += n)
            {
                loop.Rows.Add(loopValues.GetRange(i, n).ToArray());
            }
            loopValues.Clear();
            loop = null;
            inLoopHeader = false;
        }

        for (var li = 0; li < lines.Length; li++)
        {
            var lineNo = li + 1;
            var line = lines[li];
            // Semicolon text field: ';' in column 0 opens a multi-line value that ends at the next such line.
            if (line.StartsWith(';'))
            {
                var sb = new StringBuilder(line[1..]);
                li++;
                while (li < lines.Length && !lines[li].StartsWith(';'))
                {
                    sb.Append('\n').Append(lines[li]);
                    li++;
                }
                if (li >= lines.Length)
                {
                    throw new BadInputException(path, $"line {lineNo}: text field opened with ';' is never closed");
                }
                AddValue(sb.ToString(), lineNo);
                continue;
            }
            var tokens = Tokenize(line, lineNo, path);
            for (var t = 0; t < tokens.Count; t++)
            {
                var token = tokens[t];
                if (token.Quoted)
                {
                    AddValue(token.Text, lineNo);
                    continue;
                }
                var word = token.Text;
                if (word.StartsWith("data_", StringComparison.Ordinal))
                {
                    CloseLoop();
                    block = new StarBlock(word[5..]);
                    file.Blocks.Add(block);
                }
                else if (word == "loop_")
                {
                    CloseLoop();
                    if (block is null)
                    {
                        throw new BadInputException(path, $"line {lineNo}: 'loop_' before any data_ block");
                    }
                    loop = new StarTable(new List<string>());
                    block.Loops.Add(loop);
                    inLoopHeader = true;
                    loopStartLine = lineNo;
                }
                else if (word.StartsWith('_') && (loop is null || inLoopHeader))
                {
                    if (block is null)
                    {
                        throw new BadInputException(path, $"line {lineNo}: label {word} before any data_ block");
                    }
                    if (loop is not null)
                    {
                        ((List<string>)loop.Columns).Add(word[1..]);
                        // RELION writes "_rlnCoordinateX #1": the rest of the line is a comment.
                        break;
                    }
                    if (t + 1 >= tokens.Count)
                    {
                        throw new BadInputException(path, $"line {lineNo}: label {word} has no value");
                    }
                    block.Pairs.Add(new(word[1..], tokens[++t].Text));
                }
                else if (word.StartsWith('_'))
                {
                    // A label after loop values: the loop ended, and this is a key-value pair.
                    CloseLoop();
                    if (t + 1 >= tokens.Count)
                    {
                        throw new BadInputException(path, $"line {lineNo}: label {word} has no value");
                    }
                    block!.Pairs.Add(new(word[1..], tokens[++t].Text));
                }
                else
                {
                    AddValue(word, lineNo);
                }
            }
        }
        CloseLoop();
        return file;

        void AddValue(string value, int lineNo)
        {
            if (loop is null)
            {
                throw new BadInputException(path, $"line {lineNo}: value '{Shorten(value)}' outside any loop or label");
            }
            if (inLoopHeader)
            {
                if (loop.Columns.Count == 0)
                {
                    throw new BadInputException(path, $"line {lineNo}: loop_ has no column labels");
                }
                inLoopHeader = false;
            }
            loopValues.Add(value);
        }
    }

    private static string Shorten(string s) => s.Length > 30 ? s[..30] + "…" : s;

    private readonly record struct Token(string Text, bool Quoted);

    private static List<Token> Tokenize(string line, int lineNo, string path)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < line.Length)
        {
            var c = line[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }
            if (c == '#')
            {
                break;
            }
            if (c is '\'' or '"')
            {
                // A quote closes only when followed by whitespace or the end of the line (STAR rule).
                var end = i + 1;
                while (end < line.Length && !(line[end] == c && (end + 1 == line.Length || char.IsWhiteSpace(line[end + 1]))))
                {
                    end++;
                }
                if (end >= line.Length)
                {
                    throw new BadInputException(path, $"line {lineNo}: unclosed quote");
                }
                tokens.Add(new Token(line[(i + 1)..end], true));
                i = end + 1;
                continue;
            }
            var start = i;
            while (i < line.Length && !char.IsWhiteSpace(line[i]))
            {
                i++;
            }
            tokens.Add(new Token(line[start..i], false));
        }
        return tokens;
    }

    /// <summary>The file in RELION's layout: aligned columns, labels numbered "#1", "#2", ….</summary>
    public string ToText()
    {
        using var writer = new StringWriter(CultureInfo.InvariantCulture) { NewLine = "\n" };
        Write(writer);
        return writer.ToString();
    }

    /// <summary>
    /// Writes the file in RELION's layout, streaming: a table of 100,000 rows (a campaign's autopick.star) never becomes
    /// one string, which would land on the large-object heap each time it is rewritten.
    /// </summary>
    public void Write(TextWriter writer)
    {
        writer.Write("# written by DeepEM.Cluster\n");
        foreach (var block in Blocks)
        {
            writer.Write("\ndata_");
            writer.Write(block.Name);
            writer.Write("\n\n");
            if (block.Pairs.Count > 0)
            {
                var width = block.Pairs.Max(p => p.Key.Length) + 2;
                foreach (var pair in block.Pairs)
                {
                    writer.Write('_');
                    writer.Write(pair.Key.PadRight(width));
                    writer.Write(Quote(pair.Value));
                    writer.Write('\n');
                }
                writer.Write('\n');
            }
            foreach (var loop in block.Loops)
            {
                writer.Write("loop_\n");
                for (var c = 0; c < loop.Columns.Count; c++)
                {
                    writer.Write('_');
                    writer.Write(loop.Columns[c]);
                    writer.Write(" #");
                    writer.Write((c + 1).ToString(CultureInfo.InvariantCulture));
                    writer.Write('\n');
                }
                var widths = new int[loop.Columns.Count];
                foreach (var row in loop.Rows)
                {
                    for (var c = 0; c < row.Length; c++) widths[c] = Math.Max(widths[c], Quote(row[c]).Length);
                }
                foreach (var row in loop.Rows)
                {
                    for (var c = 0; c < row.Length; c++)
                    {
                        var v = Quote(row[c]);
                        for (var pad = v.Length; pad < widths[c]; pad++) writer.Write(' ');
                        writer.Write(v);
                        writer.Write(c + 1 < row.Length ? ' ' : '\n');
                    }
                }
                writer.Write('\n');
            }
        }
    }

    private static string Quote(string value)
    {
        if (value.Length == 0) return "\"\"";
        if (value.Any(char.IsWhiteSpace) || value.StartsWith('_') || value.StartsWith('#') || value.StartsWith('\'') || value.StartsWith('"')
            || value.StartsWith("data_", StringComparison.Ordinal) || value == "loop_")
        {
            return value.Contains('"') ? $"'{value}'" : $"\"{value}\"";
        }
        return value;
    }
}
