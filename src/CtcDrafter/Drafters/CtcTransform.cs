namespace CtcDrafter.Drafters;

/// <summary>What a CTC draft's candidate tree goes through before verification (docs METHOD.md section 4).</summary>
public enum CtcTransform
{
    /// <summary>None: the blank is left out of every depth and repeats stay (the ablation without the transform).</summary>
    None,
    /// <summary>The paper's transform: blanks and repeats are removed and the paths close up.</summary>
    Strict,
    /// <summary>
    /// As <see cref="Strict"/>, but a repeat is also kept as a real token, so genuine doubled tokens (the
    /// zeros of "100") stay reachable; the default.
    /// </summary>
    KeepRepeats,
}
