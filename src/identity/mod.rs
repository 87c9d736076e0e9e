//! Node identity and signed peer records.
//!
//! Every node has an Ed25519 key pair ([`Identity`]). Its node id is derived
//! from its public key ([`node_id_for`]): `"pd1"` followed by the 64
//! lowercase hex digits of the 32-byte public key (67 bytes, within the
//! [`NodeId`](crate::NodeId) rules). The key is kept in a small JSON file created with mode
//! 0600 ([`Identity::load_or_create`]) so the id survives restarts.
//!
//! A node signs its own record ([`sign`]) and every receiver checks it
//! ([`verify`]): the public key is present and well formed, the node id is
//! the one derived from that key (a record claiming another node's id
//! fails), and the signature covers every field of the record (a relay that
//! changed anything fails). [`RecordGate`] keeps the newest verified record
//! per node id and refuses older or equal versions (replays).
//!
//! PROTOCOL.md ("Node identity, signed records and the cluster key")
//! describes the encodings (node id, public key, signature,
//! canonical bytes, key file).
//!
//! ```
//! use peerdisc::identity::{sign, verify, Identity, RecordGate};
//! use peerdisc::PeerRecord;
//!
//! let me = Identity::generate();
//! let mut record = PeerRecord::new(me.node_id());
//! record.version = 1;
//! let signed = sign(&me, record);
//! assert_eq!(verify(&signed).unwrap().node_id, me.node_id());
//!
//! let mut gate = RecordGate::new();
//! gate.offer(signed.clone()).unwrap();
//! assert!(gate.offer(signed).unwrap_err().is_stale()); // a replay
//! ```

mod batch;
mod claim;
mod error;
mod gate;
pub(crate) mod key;
mod key_cache;
mod record;

pub use batch::check_records;
pub use claim::{
    claim_bytes, greeting_bytes, must_sign, sign_claim, sign_greeting, verify_claim,
    verify_greeting, CLAIM_CONTEXT, GREETING_CONTEXT,
};
pub use error::{IdentityError, VerifyError};
pub use gate::{GateOutcome, RecordGate};
pub use key::{
    node_id_for, parse_public_key, public_key_text, Identity, KEY_FILE_FORMAT, MAX_KEY_FILE_BYTES,
    NODE_ID_PREFIX, PUBLIC_KEY_PREFIX,
};
pub use record::{
    canonical_bytes, check_record, is_key_derived_id, sign, sign_record, verify, verify_record,
    SignedRecord, SIGNATURE_CONTEXT,
};
