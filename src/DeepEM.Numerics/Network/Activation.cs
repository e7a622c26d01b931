namespace DeepEM.Numerics.Network;

/// <summary>Hidden-layer activation. The paper's network is sigmoid throughout.</summary>
public enum Activation
{
    Sigmoid = 0,
}

/// <summary>Training loss. The paper minimises squared error E = 1/(2N) Σ (t − y)²; cross-entropy is offered as an option.</summary>
public enum LossKind
{
    SquaredError = 0,
    CrossEntropy = 1,
}
