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
    /// A key-derived (`pd1…`) node id needs that key to sign what the node
    /// says about itself; a gossip object without one would send unsigned
    /// refutations and leaves that every peer refuses.
    #[error("node id {0} is key-derived: it needs its identity (key), which gossip over the application's transport cannot hold; use a hand-picked id")]
    KeyDerivedIdWithoutIdentity(String),
    /// The node has left; it takes no more commands.
    #[error("this node has left the network")]
    Left,
}
