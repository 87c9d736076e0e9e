/// Why the mDNS worker could not be set up, or why a TXT record was
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MdnsError {
    /// A configuration value is not usable.
    #[error("invalid mDNS configuration: {0}")]
    Config(String),
    /// A TXT entry is malformed (missing, not UTF-8, out of range, ...).
    #[error("invalid TXT entry {key:?}: {reason}")]
    Txt {
        /// The entry's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The TXT record, or one entry of it, is over the size limits (255
    /// bytes per entry, about 400 bytes for the record).
    #[error("TXT record too large: {0}")]
    TxtTooLarge(String),
    /// The mDNS daemon refused an operation.
    #[error("mDNS daemon: {0}")]
    Daemon(String),
    /// A worker thread could not be started.
    #[error("could not start the mDNS thread: {0}")]
    Thread(String),
}
