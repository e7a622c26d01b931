namespace DeepEM.Numerics.Network;

/// <summary>
/// Hidden-layer activation. The paper's network is sigmoid throughout; rectified linear units are offered
/// as an option (the output unit stays a sigmoid, so scores stay in 0..1).
/// </summary>
public enum Activation
{
    Sigmoid = 0,
    Relu = 1,
}

/// <summary>Training loss. The paper minimises squared error E = 1/(2N) Σ (t − y)²; cross-entropy is offered as an option.</summary>
public enum LossKind
{
    SquaredError = 0,
    CrossEntropy = 1,
}
