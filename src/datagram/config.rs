use serde::{Deserialize, Serialize};

use crate::wire::{DEFAULT_MAX_DATAGRAM_BYTES, MAX_DATAGRAM_BYTES, MIN_DATAGRAM_BYTES};

/// The datagram path of a node (PROTOCOL.md, "Datagrams"): probes, their
/// answers, gossip and liveness claims travel as UDP datagrams on the
/// listen address and port, WebSocket keeps the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatagramConfig {
    /// Bind UDP and send probes and gossip as datagrams to peers that have
    /// the path (default true). Off: everything goes over WebSocket.
    pub enabled: bool,
    /// Largest datagram sent or accepted, in bytes, headers and seal
    /// included (default 1,400: fits a 1,500-byte MTU). The membership
    /// byte budgets are capped so that probes and gossip fit; a message
    /// that still does not fit goes over WebSocket.
    pub max_bytes: usize,
}

impl Default for DatagramConfig {
    fn default() -> Self {
        DatagramConfig {
            enabled: true,
            max_bytes: DEFAULT_MAX_DATAGRAM_BYTES,
        }
    }
}

impl DatagramConfig {
    /// Checks the size limit is within 512..=65,507 bytes.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_DATAGRAM_BYTES..=MAX_DATAGRAM_BYTES).contains(&self.max_bytes) {
            return Err(format!(
                "max_bytes must be within {MIN_DATAGRAM_BYTES}..={MAX_DATAGRAM_BYTES}, not {}",
                self.max_bytes
            ));
        }
        Ok(())
    }
}

/// Caps the membership budgets so that a `ping`, `ack` or
/// `gossip_announcement` with its piggybacked updates fits one datagram of
/// `max_bytes` sent by a node whose id is `id_len` bytes (sealed or not).
/// A record too large for the gossip budget then travels as its state
/// alone, and receivers fetch it over WebSocket.
pub fn fit_budgets(
    membership: &mut crate::membership::MembershipConfig,
    max_bytes: usize,
    id_len: usize,
    sealed: bool,
) {
    let room = crate::wire::datagram_message_room(max_bytes, id_len, sealed);
    // The fixed fields of the largest carrier, an `ack` relayed for a
    // 128-byte node id with a 20-digit sequence number, or a gossip
    // announcement's timestamp, with their empty lists.
    const ENVELOPE: usize = 240;
    let budget = room.saturating_sub(ENVELOPE).max(64);
    membership.max_piggyback_bytes = membership.max_piggyback_bytes.min(budget);
    membership.max_gossip_bytes = membership.max_gossip_bytes.min(budget);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_fits_and_odd_sizes_are_refused() {
        assert!(DatagramConfig::default().validate().is_ok());
        for bad in [0, 511, 65_508] {
            let c = DatagramConfig {
                max_bytes: bad,
                ..DatagramConfig::default()
            };
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn budgets_are_capped_to_the_room_left() {
        let mut m = crate::membership::MembershipConfig::default();
        fit_budgets(&mut m, 1400, 67, true);
        assert_eq!(m.max_gossip_bytes, 1400 - 4 - 44 - 1 - 67 - 240);
        assert_eq!(m.max_piggyback_bytes, 1024.min(m.max_gossip_bytes));
        let mut big = crate::membership::MembershipConfig::default();
        fit_budgets(&mut big, 65_507, 10, false);
        assert_eq!(big.max_gossip_bytes, 16 * 1024);
    }
}
