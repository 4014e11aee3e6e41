using CtcDrafter.Cli.Bench;

namespace CtcDrafter.Tests.Cli;

/// <summary>The repetition share that sets looping outputs apart from fluent ones.</summary>
public class RepetitionTests
{
    static double Share(params int[][] turns) => Repetition.Share(turns);

    [Fact]
    public void ALoopedOutputIsMostlyRepeating()
    {
        // "el tener el tener ...": 20 tokens, the 4-gram (1,2,1,2) first ends at 3, (2,1,2,1) at 4; 5..19 repeat.
        int[] loop = [.. Enumerable.Range(0, 20).Select(i => 1 + i % 2)];
        Assert.Equal(15 / 20.0, Share(loop), 12);
        Assert.False(Repetition.IsFluent(Share(loop)));
    }

    [Fact]
    public void AnOutputWithoutARepeated4GramHasNone()
    {
        Assert.Equal(0, Share([.. Enumerable.Range(0, 50)]));
        // Repeated tokens and 3-grams are not enough: 1 2 3 9 1 2 3 8 1 2 3 7.
        Assert.Equal(0, Share([1, 2, 3, 9, 1, 2, 3, 8, 1, 2, 3, 7]));
        Assert.True(Repetition.IsFluent(0));
    }

    [Fact]
    public void OutputsShorterThanA4GramHaveNoRepetition()
    {
        Assert.Equal(0, Share());
        Assert.Equal(0, Share(Array.Empty<int>()));
        Assert.Equal(0, Share([5, 5, 5]));
        Assert.Equal(0, Share([5, 5, 5], [5, 5, 5])); // no 4-gram spans two turns
    }

    [Fact]
    public void ALaterTurnRepeatingAnEarlierOneCountsOverAllTurns()
    {
        int[] turn = [1, 2, 3, 4, 5, 6];
        Assert.Equal(3 / 12.0, Share(turn, turn), 12); // the second turn's 3 4-grams were seen in the first
        Assert.Equal(1 / 5.0, Share([7, 7, 7, 7, 7]), 12);
        Assert.False(Repetition.IsFluent(Repetition.FluentBelow));
    }
}
