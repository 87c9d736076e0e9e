use crate::model::Liveness;

/// What the simulator counts, from the events every node emits.
///
/// "Views" are (observer, target) pairs among nodes that are up.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Per target: observers that hold it as alive or suspect.
    pub present_by: Vec<u32>,
    /// Per target: observers that hold it as alive.
    pub alive_by: Vec<u32>,
    /// Per target: observers that hold it as dead.
    pub dead_by: Vec<u32>,
    /// Sum of `alive_by`.
    pub alive_views: u64,
    /// Sum of `present_by`.
    pub present_views: u64,
    /// Probes of healthy (up) nodes that failed and started a suspicion.
    pub false_suspicions: u64,
    /// Suspicion timeouts that declared a healthy (up) node dead.
    pub false_death_declarations: u64,
    /// Views that turned a healthy (up) node to dead.
    pub false_dead_views: u64,
    /// Refutations (a node raised its incarnation to deny a suspicion).
    pub refutations: u64,
    /// Messages handed to the network.
    pub messages_sent: u64,
    /// Messages lost by the network (loss or partition).
    pub messages_dropped: u64,
    /// Messages and bytes sent, per message type.
    pub by_type: std::collections::BTreeMap<&'static str, (u64, u64)>,
    /// Bytes of suspicion and refutation sent: whole `suspect` and `alive`
    /// messages, plus each piggybacked state that is `suspect`, or `alive`
    /// above incarnation 0 (a refutation), in pings, acks and gossip.
    pub suspicion_bytes: u64,
    /// Pairs of nodes that exchanged stream (WebSocket) messages: the
    /// connections a networked cluster would open (each with a handshake
    /// and a greeting).
    pub stream_pairs: std::collections::HashSet<(u32, u32)>,
}

/// The suspicion and refutation bytes of one message of `bytes` bytes
/// ([`Metrics::suspicion_bytes`]).
pub(crate) fn suspicion_bytes(msg: &crate::wire::Message, bytes: u64) -> u64 {
    use crate::wire::{MemberState, Message};
    let states = |st: &[MemberState]| -> u64 {
        st.iter()
            .filter(|s| {
                s.liveness == Liveness::Suspect
                    || (s.liveness == Liveness::Alive && s.incarnation > 0)
            })
            .map(|s| crate::wire::json_len(s) as u64 + 1)
            .sum()
    };
    match msg {
        Message::Suspect(_) | Message::Alive(_) => bytes,
        Message::Ping(p) => states(&p.states),
        Message::Ack(a) => states(&a.states),
        Message::GossipAnnouncement(g) => states(&g.states),
        _ => 0,
    }
}

impl Metrics {
    pub(crate) fn grow(&mut self, n: usize) {
        self.present_by.resize(n, 0);
        self.alive_by.resize(n, 0);
        self.dead_by.resize(n, 0);
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) one observer's view of
    /// `target` at `liveness`.
    pub(crate) fn view(&mut self, target: usize, liveness: Liveness, sign: i32) {
        let add = |c: &mut u32| {
            *c = if sign > 0 {
                *c + 1
            } else {
                c.saturating_sub(1)
            }
        };
        if liveness.is_present() {
            add(&mut self.present_by[target]);
            if sign > 0 {
                self.present_views += 1;
            } else {
                self.present_views = self.present_views.saturating_sub(1);
            }
        }
        if liveness == Liveness::Alive {
            add(&mut self.alive_by[target]);
            if sign > 0 {
                self.alive_views += 1;
            } else {
                self.alive_views = self.alive_views.saturating_sub(1);
            }
        }
        if liveness == Liveness::Dead {
            add(&mut self.dead_by[target]);
        }
    }
}
