/// Why the membership core refused a command or configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MembershipError {
    /// A configuration value is out of range.
    #[error("invalid membership configuration: {0}")]
    InvalidConfig(&'static str),
    /// The node's own record is invalid.
    #[error("invalid own record: {0}")]
    InvalidRecord(String),
    /// A record update must keep the node id.
    #[error("a record update cannot change the node id")]
    IdentityChange,
    /// The node has left; it takes no more commands.
    #[error("this node has left the network")]
    Left,
}
