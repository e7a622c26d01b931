namespace DeepEM.Cluster.Protocol;

/// <summary>
/// Marker on every message that may cross the network or enter the journal. HOCON binds this interface to
/// <see cref="Serialization.ClusterMessageSerializer"/>, so nothing of ours is ever serialized by reflection.
/// </summary>
internal interface IClusterMessage;
