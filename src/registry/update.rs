use std::collections::BTreeMap;

use crate::events::ChangedField;
use crate::model::{Capabilities, ConnectionState, Liveness, PeerAddress, PeerRecord};

/// What an [`upsert`](super::PeerRegistry::upsert) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpsertOutcome {
    /// The peer was new.
    Added,
    /// The record had a higher version and replaced the old one.
    Updated { changes: Vec<ChangedField> },
    /// The record's version was not higher than the one listed; nothing
    /// changed.
    Ignored { current_version: u64 },
}

/// A local edit of a peer for [`update`](super::PeerRegistry::update):
/// every field that is `Some` is set. Record fields are validated like a new
/// record; the version is not checked (this is the owner's own edit).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PeerUpdate {
    pub addresses: Option<Vec<PeerAddress>>,
    pub public_key: Option<Option<Box<str>>>,
    pub capabilities: Option<Capabilities>,
    pub metadata: Option<BTreeMap<String, String>>,
    pub version: Option<u64>,
    pub connection_state: Option<ConnectionState>,
    pub liveness: Option<Liveness>,
    /// Raise the record version by one when a record field changes and
    /// `version` is not given (the seed system's `update_peer`: a local
    /// edit that later upserts of the old version do not undo).
    pub bump_version: bool,
}

impl PeerUpdate {
    /// An empty update.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the capabilities.
    pub fn capabilities(mut self, caps: Capabilities) -> Self {
        self.capabilities = Some(caps);
        self
    }
    /// Sets the addresses.
    pub fn addresses(mut self, addrs: Vec<PeerAddress>) -> Self {
        self.addresses = Some(addrs);
        self
    }
    /// Sets the metadata.
    pub fn metadata(mut self, meta: BTreeMap<String, String>) -> Self {
        self.metadata = Some(meta);
        self
    }
    /// Sets the connection state.
    pub fn connection_state(mut self, s: ConnectionState) -> Self {
        self.connection_state = Some(s);
        self
    }
    /// Sets the liveness.
    pub fn liveness(mut self, l: Liveness) -> Self {
        self.liveness = Some(l);
        self
    }
    /// Raises the version by one if a record field is set (see
    /// [`bump_version`](Self::bump_version) the field).
    pub fn bump_version(mut self) -> Self {
        self.bump_version = true;
        self
    }
}

/// The record fields that differ between `old` and `new`.
pub(crate) fn record_changes(old: &PeerRecord, new: &PeerRecord) -> Vec<ChangedField> {
    let mut c = Vec::new();
    if old.addresses != new.addresses {
        c.push(ChangedField::Addresses);
    }
    if old.public_key != new.public_key {
        c.push(ChangedField::PublicKey);
    }
    if old.capabilities != new.capabilities {
        c.push(ChangedField::Capabilities);
    }
    if old.metadata != new.metadata {
        c.push(ChangedField::Metadata);
    }
    if old.version != new.version {
        c.push(ChangedField::Version);
    }
    c
}
