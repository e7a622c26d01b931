using DeepEM.Pipeline.Picking;

namespace DeepEM.Pipeline.Tests;

/// <summary>The one rule for the names that become files in an output folder, for a whole run.</summary>
public class PickNameTests
{
    [Fact]
    public void Names_of_a_run_pass_when_each_is_a_path_inside_the_folder_and_none_is_shared()
    {
        PickOutputs.CheckNames([("mic_0001", "/data/mic_0001.mrc"), ("Micrographs/mic_0001", "/p/Micrographs/mic_0001.mrc"), ("b c", "/data/b c.tif")]);
    }

    [Fact]
    public void Two_micrographs_with_one_name_are_refused_with_both_paths_and_the_hint()
    {
        var e = Assert.Throws<ArgumentException>(() => PickOutputs.CheckNames(
            [("a", "/x/a.mrc"), ("b", "/x/b.mrc"), ("a", "/y/a.tiff")], " (--relion-layout names each by its path)"));
        Assert.Equal("two micrographs share the name 'a' (/x/a.mrc, /y/a.tiff); their picks would overwrite each other (--relion-layout names each by its path)", e.Message);
    }

    [Theory]
    [InlineData("../escape")]
    [InlineData("/absolute")]
    [InlineData("a//b")]
    [InlineData(".hidden")]
    [InlineData("back\\slash")]
    [InlineData("")]
    public void A_name_that_would_leave_the_folder_or_hide_in_it_is_refused(string name)
    {
        var e = Assert.Throws<ArgumentException>(() => PickOutputs.CheckNames([("ok", "/x/ok.mrc"), (name, "/x/bad.mrc")]));
        Assert.Contains("cannot be a path in the output folder", e.Message);
    }
}
