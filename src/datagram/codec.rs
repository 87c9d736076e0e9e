use super::DatagramError;
use crate::keyring::{Keyring, KeyringError};
use crate::model::NodeId;
use crate::wire::{self, Message};

/// The datagram carrying `message_json` (one `wire::encode`d message) from
/// `from`, sealed with `ring`'s primary key when there is a ring, or
/// `TooLarge` when it would exceed `max_bytes`.
pub fn seal(
    ring: Option<&Keyring>,
    from: &NodeId,
    message_json: &str,
    max_bytes: usize,
) -> Result<Vec<u8>, DatagramError> {
    let room = wire::datagram_message_room(max_bytes, from.as_str().len(), ring.is_some());
    if message_json.len() > room {
        return Err(DatagramError::TooLarge {
            len: max_bytes - room + message_json.len(),
            max: max_bytes,
        });
    }
    let header = wire::datagram_header(ring.is_some());
    let body = wire::datagram_body(from, message_json);
    let mut d = header.to_vec();
    match ring {
        Some(r) => d.extend_from_slice(&r.seal_bytes(&header, &body)),
        None => d.extend_from_slice(&body),
    }
    Ok(d)
}

/// The sender and message of a received datagram: size limit, framing,
/// the cluster key setting (a keyed node opens only datagrams sealed with
/// a key it holds; a node without a key refuses sealed ones), then the
/// sender id and the message, strictly. Never panics.
pub fn open(
    ring: Option<&Keyring>,
    bytes: &[u8],
    max_bytes: usize,
) -> Result<(NodeId, Message), DatagramError> {
    let frame = wire::parse_datagram(bytes, max_bytes)?;
    match (ring, frame.sealed) {
        (None, false) => Ok(wire::decode_datagram_body(frame.body)?),
        (None, true) => Err(DatagramError::SealedRefused),
        (Some(_), false) => Err(DatagramError::PlaintextRefused),
        (Some(r), true) => {
            let body = r
                .open_bytes(frame.header, frame.body)
                .map_err(DatagramError::Unsealed)?;
            Ok(wire::decode_datagram_body(&body)?)
        }
    }
}

impl DatagramError {
    /// Whether this is a cluster key mismatch (rather than damage).
    pub fn is_key_mismatch(&self) -> bool {
        matches!(
            self,
            DatagramError::PlaintextRefused
                | DatagramError::SealedRefused
                | DatagramError::Unsealed(KeyringError::UnknownKey { .. })
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Ping;

    fn id(s: &str) -> NodeId {
        NodeId::new(s).unwrap()
    }

    fn ping() -> (Message, String) {
        let m = Message::Ping(Ping::new(9, id("node-b")));
        let j = wire::encode(&m);
        (m, j)
    }

    #[test]
    fn plaintext_and_sealed_datagrams_round_trip() {
        let (m, j) = ping();
        let d = seal(None, &id("node-a"), &j, 1400).unwrap();
        assert_eq!(open(None, &d, 1400).unwrap(), (id("node-a"), m.clone()));
        let ring = Keyring::new(vec![Keyring::generate_key()]).unwrap();
        let s = seal(Some(&ring), &id("node-a"), &j, 1400).unwrap();
        assert_eq!(s.len(), d.len() + crate::keyring::SEAL_OVERHEAD);
        assert_eq!(open(Some(&ring), &s, 1400).unwrap(), (id("node-a"), m));
    }

    #[test]
    fn key_mismatches_and_tampering_are_refused() {
        let (_, j) = ping();
        let ring = Keyring::new(vec![Keyring::generate_key()]).unwrap();
        let other = Keyring::new(vec![Keyring::generate_key()]).unwrap();
        let plain = seal(None, &id("node-a"), &j, 1400).unwrap();
        let sealed = seal(Some(&ring), &id("node-a"), &j, 1400).unwrap();
        assert_eq!(
            open(Some(&ring), &plain, 1400),
            Err(DatagramError::PlaintextRefused)
        );
        assert_eq!(open(None, &sealed, 1400), Err(DatagramError::SealedRefused));
        let e = open(Some(&other), &sealed, 1400).unwrap_err();
        assert!(e.is_key_mismatch(), "{e}");
        let mut t = sealed.clone();
        t[3] = 0; // the header is authenticated: now "plaintext"
        assert!(open(Some(&ring), &t, 1400).is_err());
        let mut t = sealed.clone();
        let n = t.len() - 1;
        t[n] ^= 0x40;
        assert_eq!(
            open(Some(&ring), &t, 1400),
            Err(DatagramError::Unsealed(KeyringError::Tampered))
        );
    }

    #[test]
    fn a_message_over_the_limit_is_not_sealed() {
        let (_, j) = ping();
        let exact = 4 + 1 + 6 + j.len();
        assert!(seal(None, &id("node-a"), &j, exact).is_ok());
        assert!(matches!(
            seal(None, &id("node-a"), &j, exact - 1),
            Err(DatagramError::TooLarge { len, max }) if len == exact && max == exact - 1
        ));
    }
}
