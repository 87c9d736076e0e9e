//! The connection greeting's proof of identity (PROTOCOL.md, "Greeting").
//!
//! Each side's first frame is an `alive` claim about itself carrying a
//! fresh challenge (`nonce`). A side whose id must be proven (a key-derived
//! id, or any id when signatures are required) answers the other's
//! challenge with a `proof`: its key's signature of that nonce. The
//! listener, on a greeting without a proof, greets back at once with its
//! own proof and challenge; the dialer then sends a second greeting with
//! its proof, and holds its other frames until it has. A connection is
//! named only by a proven greeting, so a proof cannot be replayed on
//! another connection (the nonce is new for each).

use std::collections::HashSet;

use crate::identity::{must_sign, sign_greeting, verify_greeting, Identity};
use crate::model::{NodeId, RecordSignature};
use crate::wire::{Nonce, StateClaim};

/// Most peers a refused greeting is logged for at warning level (later
/// refusals of the same peer, and of peers beyond this many, at debug).
const WARN_ONCE_LIMIT: usize = 1024;

pub(crate) struct Greeter {
    me: NodeId,
    identity: Option<Identity>,
    require_signed: bool,
    warned: HashSet<NodeId>,
}

/// What a received greeting does to its connection.
pub(crate) enum Verdict {
    /// The sender is who it says (proven, or its id needs no proof).
    Named,
    /// Its id needs a proof it did not give yet: greet back with a
    /// challenge and wait for the proof.
    Challenge,
    /// Its proof is wrong.
    Refused(String),
}

impl Greeter {
    pub fn new(me: NodeId, identity: Option<Identity>, require_signed: bool) -> Self {
        Greeter {
            me,
            identity,
            require_signed,
            warned: HashSet::new(),
        }
    }

    /// Whether this node must prove its id (it has a key).
    pub fn proves(&self) -> bool {
        self.identity.is_some()
    }

    /// Whether `id`'s greeting must carry a proof.
    pub fn needs_proof(&self, id: &NodeId) -> bool {
        must_sign(id.as_str(), self.require_signed)
    }

    /// This node's proof for the challenge of `to` (the other side, as
    /// its greeting named it).
    pub fn proof_for(&self, to: &NodeId, their: &Nonce) -> Option<RecordSignature> {
        self.identity
            .as_ref()
            .map(|i| sign_greeting(i, to.as_str(), their.as_str()))
    }

    /// Judges a greeting, given the challenge this side sent on the
    /// connection (if any).
    pub fn judge(&self, g: &StateClaim, mine: Option<&Nonce>) -> Verdict {
        if !self.needs_proof(&g.node_id) {
            return Verdict::Named;
        }
        match (&g.proof, mine) {
            (Some(proof), Some(nonce)) => {
                let (from, me) = (g.node_id.as_str(), self.me.as_str());
                match verify_greeting(from, me, nonce.as_str(), proof) {
                    Ok(()) => Verdict::Named,
                    Err(e) => Verdict::Refused(format!("greeting proof does not verify: {e}")),
                }
            }
            (Some(_), None) => {
                Verdict::Refused("a greeting proof for a challenge never sent".into())
            }
            (None, _) => Verdict::Challenge,
        }
    }

    /// Logs a refusal of something `who` sent (or claimed to be): at
    /// warning level the first time for each peer, at debug level after.
    pub fn warn_once(&mut self, me: &NodeId, who: &NodeId, why: &str) {
        if self.warned.len() < WARN_ONCE_LIMIT && self.warned.insert(who.clone()) {
            log::warn!(
                "peerdisc: {me}: refused from {who}: {why} (logged once per peer; \
                 counted in the node's stats: greetings_refused, claims_refused)"
            );
        } else {
            log::debug!("peerdisc: {me}: refused from {who}: {why}");
        }
    }
}
