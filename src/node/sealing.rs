//! The cluster key on the wire: with a keyring every frame is sealed on the
//! way out and opened on the way in; without one, sealed frames are refused.
//! A node that refuses a connection for this reason first sends one
//! plaintext notice, `{"v": 1, "type": "refused", "reason": ...}`, so that
//! the other side can say clearly what is wrong (PROTOCOL.md, "Cluster
//! key").

use crate::keyring::{check_plaintext, Keyring, KeyringError};

/// Why frames from a peer were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// This node has a cluster key; the peer sent plaintext.
    KeyRequired,
    /// This node has no cluster key; the peer sent sealed frames.
    NoKey,
    /// Sealed with a key this node does not hold, or tampered with.
    WrongKey,
}

impl Refusal {
    pub fn wire_name(self) -> &'static str {
        match self {
            Refusal::KeyRequired => "cluster_key_required",
            Refusal::NoKey => "no_cluster_key",
            Refusal::WrongKey => "wrong_cluster_key",
        }
    }

    /// What the refused side should be told, in words.
    pub fn explain(self) -> &'static str {
        match self {
            Refusal::KeyRequired => {
                "the peer requires a cluster key and this node sends plaintext (set cluster_keys)"
            }
            Refusal::NoKey => {
                "the peer has no cluster key and this node seals its frames (remove cluster_keys there or set it here)"
            }
            Refusal::WrongKey => "the peer holds a different cluster key",
        }
    }

    fn from_wire(s: &str) -> Option<Refusal> {
        Some(match s {
            "cluster_key_required" => Refusal::KeyRequired,
            "no_cluster_key" => Refusal::NoKey,
            "wrong_cluster_key" => Refusal::WrongKey,
            _ => return None,
        })
    }

    /// What this (refusing) node logs.
    pub fn explain_here(self) -> &'static str {
        match self {
            Refusal::KeyRequired => "it sends plaintext and this node requires the cluster key",
            Refusal::NoKey => "it sends sealed frames and this node has no cluster key",
            Refusal::WrongKey => "its frames are sealed with a key this node does not hold",
        }
    }

    /// The plaintext notice for the other side.
    pub fn notice(self) -> String {
        format!(
            r#"{{"v":1,"type":"refused","reason":"{}"}}"#,
            self.wire_name()
        )
    }
}

/// If `text` is a refusal notice, the reason.
pub(crate) fn parse_notice(text: &str) -> Option<Refusal> {
    if text.len() > 128 || !text.contains("\"refused\"") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v.get("type")?.as_str()? != "refused" {
        return None;
    }
    Refusal::from_wire(v.get("reason")?.as_str()?)
}

/// Seals `text` if there is a keyring.
pub(crate) fn seal(ring: Option<&Keyring>, text: String) -> String {
    match ring {
        Some(r) => r.seal(&text),
        None => text,
    }
}

/// Opens `text` with the keyring, or checks it is plaintext without one.
pub(crate) fn open(ring: Option<&Keyring>, text: &str) -> Result<String, Refusal> {
    match ring {
        Some(r) => r.open(text).map_err(|e| match e {
            KeyringError::PlaintextRefused => Refusal::KeyRequired,
            _ => Refusal::WrongKey,
        }),
        None => match check_plaintext(text) {
            Ok(()) => Ok(text.to_string()),
            Err(_) => Err(Refusal::NoKey),
        },
    }
}
