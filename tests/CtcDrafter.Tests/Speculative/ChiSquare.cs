namespace CtcDrafter.Tests.Speculative;

/// <summary>Pearson's chi-square goodness-of-fit test.</summary>
static class ChiSquare
{
    /// <summary>
    /// True when counts are consistent with the expected probabilities at significance 0.001. Categories with
    /// expected probability 0 must have no counts; the critical value uses the Wilson-Hilferty approximation.
    /// </summary>
    public static bool Fits(long[] counts, double[] probs, out string detail)
    {
        long n = counts.Sum();
        double stat = 0;
        int df = -1;
        for (int i = 0; i < counts.Length; i++)
        {
            if (probs[i] <= 0)
            {
                if (counts[i] > 0) { detail = $"category {i} has probability 0 but {counts[i]} draws"; return false; }
                continue;
            }
            double e = n * probs[i];
            stat += (counts[i] - e) * (counts[i] - e) / e;
            df++;
        }
        double critical = Critical(Math.Max(df, 1));
        detail = $"chi2 = {stat:F2}, df = {df}, critical(0.001) = {critical:F2}";
        return stat <= critical;
    }

    /// <summary>
    /// Two-sample homogeneity test: could both count vectors come from one distribution (significance 0.001)?
    /// Categories seen fewer than <paramref name="pool"/> times in both samples together are pooled into one, so
    /// that a large vocabulary's rare tokens do not break the test's approximation.
    /// </summary>
    public static bool SameDistribution(long[] a, long[] b, out string detail, int pool = 0)
    {
        var rare = Enumerable.Range(0, a.Length).Where(i => a[i] + b[i] < pool).ToArray();
        if (rare.Length > 1)
        {
            long[] x = a, y = b;
            a = [.. x.Where((_, i) => x[i] + y[i] >= pool), rare.Sum(i => x[i])];
            b = [.. y.Where((_, i) => x[i] + y[i] >= pool), rare.Sum(i => y[i])];
        }
        double na = a.Sum(), nb = b.Sum(), stat = 0;
        int df = -1;
        for (int i = 0; i < a.Length; i++)
        {
            double total = a[i] + b[i];
            if (total == 0) continue;
            double ea = total * na / (na + nb), eb = total * nb / (na + nb);
            stat += (a[i] - ea) * (a[i] - ea) / ea + (b[i] - eb) * (b[i] - eb) / eb;
            df++;
        }
        double critical = Critical(Math.Max(df, 1));
        detail = $"chi2 = {stat:F2}, df = {df}, critical(0.001) = {critical:F2}";
        return stat <= critical;
    }

    static double Critical(double k) => k * Math.Pow(1 - 2 / (9 * k) + 3.090 * Math.Sqrt(2 / (9 * k)), 3);
}
