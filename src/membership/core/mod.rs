use std::collections::{HashMap, VecDeque};

mod anti_entropy;
mod asks;
mod burst;
mod claims;
mod join;
mod merge;
mod probe;
mod rtt;
mod seed_compat;
mod summary;

use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::dissemination::{BroadcastQueue, Piggyback};
use super::member::{Member, MemberTable};
use super::suspicion::{Suspicion, Suspicions};
use super::{
    Command, MembershipConfig, MembershipError, MembershipEvent, Output, RegistryChange,
    RemovalReason, Target,
};
use crate::identity::{check_record, check_records, sign_record, Identity};
use crate::model::{Liveness, NodeId, PeerRecord};
use crate::wire::{
    self, Ack, AnnouncedPeer, GossipAnnouncement, Hello, MemberState, Message, Nack, PeerList,
    PeerListRequest, Ping, PingReq, PushPull, StateClaim, WireError, MAX_PEERS_PER_MESSAGE,
    MAX_REQUESTED_IDS, MAX_STATES_PER_MESSAGE,
};

/// Where a liveness claim came from. Digest entries (anti-entropy,
/// bootstrap) only raise suspicion, never death: the receiver must see the
/// accused fail to refute before it believes it dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Gossip,
    Digest,
    /// A `suspect` or `alive` claim sent to this node alone (an accused's
    /// witnesses, its accusers): merged, never relayed (PROTOCOL.md
    /// "Suspicion").
    Direct,
}

#[derive(Debug, Clone)]
struct Probe {
    target: NodeId,
    seq: u64,
    indirect_at_ms: u64,
    end_ms: u64,
    acked: bool,
    indirect_sent: bool,
    nacks_expected: u32,
    nacks: u32,
}

/// A last probe of a suspect before declaring it dead: direct, then
/// indirect, carrying the suspicion so a live target refutes it.
#[derive(Debug, Clone)]
struct Verify {
    target: NodeId,
    seq: u64,
    incarnation: u64,
    indirect_at_ms: u64,
    end_ms: u64,
    acked: bool,
    indirect_sent: bool,
    /// A check of a member held alive (after a stale death claim), not of
    /// a suspicion: if it fails, this node suspects the member itself.
    check: bool,
}

#[derive(Debug, Clone)]
struct Relay {
    seq: u64,
    requester: NodeId,
    their_seq: u64,
    target: NodeId,
    deadline_ms: u64,
}

#[derive(Debug, Clone)]
struct Reconnect {
    seq: u64,
    target: NodeId,
    deadline_ms: u64,
}

#[derive(Debug, Clone)]
struct JoinState {
    seeds: Vec<Target>,
    attempts: u32,
    next_ms: u64,
}

/// A read-only view of one member.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    /// Its newest record known here.
    pub record: Arc<PeerRecord>,
    /// Incarnation of its liveness.
    pub incarnation: u64,
    /// Alive, suspect, dead or left.
    pub liveness: Liveness,
    /// Health score (0..=1) from probe and connection outcomes.
    pub health: f32,
}

impl MemberView {
    fn of(m: &Member) -> Self {
        MemberView {
            record: m.record.clone(),
            incarnation: m.incarnation,
            liveness: m.liveness,
            health: m.health,
        }
    }
}

/// The membership state machine of one node. See the [module
/// docs](crate::membership).
#[derive(Debug)]
pub struct Membership {
    config: MembershipConfig,
    me: Arc<PeerRecord>,
    incarnation: u64,
    leaving: bool,
    members: MemberTable,
    broadcasts: BroadcastQueue,
    suspicions: Suspicions,
    probe: Option<Probe>,
    relays: Vec<Relay>,
    reconnects: Vec<Reconnect>,
    verifications: Vec<Verify>,
    /// Members to check at the next tick (stale death claims).
    checks: Vec<NodeId>,
    local_health: u32,
    /// Successful probes in a row (a network that has been clean a while,
    /// not only at this moment).
    clean_probes: u32,
    rng: ChaCha8Rng,
    outputs: VecDeque<Output>,
    seq: u64,
    started: bool,
    next_probe_ms: u64,
    next_gossip_ms: u64,
    /// Earliest time of the next out-of-turn gossip round (news of a
    /// death goes out at once, at most four times per gossip interval).
    next_eager_ms: u64,
    next_push_pull_ms: u64,
    next_reconnect_ms: u64,
    next_reclaim_ms: u64,
    join: Option<JoinState>,
    joined: bool,
    signer: Option<Identity>,
    /// Join bookkeeping: the bootstrap nodes that answered, the burst
    /// budgets, the anti-entropy catch-up pace (see `join.rs`).
    joining: join::Joining,
    /// The signature of this node's current state (alive above
    /// incarnation 0, or left).
    my_sig: Option<crate::model::RecordSignature>,
    /// Each member's latest verified signed word about itself.
    words: HashMap<NodeId, claims::Word>,
    claims_refused: u64,
    /// Unix time (ms) at time 0 of this core's clock, for the `timestamp`
    /// of announcements (0: timestamps are the core's own time).
    unix_epoch_ms: u64,
    /// Next seed-shaped announcement (seed-compatible mode).
    next_announce_ms: u64,
    /// How long probes take to be answered (`rtt.rs`).
    round_trips: rtt::RoundTrips,
    /// Records asked for lately (`asks.rs`).
    asks: asks::RecordAsks,
}

fn overrides(new: Liveness, new_inc: u64, old: Liveness, old_inc: u64) -> bool {
    use Liveness::*;
    match (new, old) {
        (Alive, _) => new_inc > old_inc,
        (Suspect, Alive) => new_inc >= old_inc,
        (Suspect, _) => new_inc > old_inc,
        (Dead, Alive | Suspect) => new_inc >= old_inc,
        (Dead, _) => new_inc > old_inc,
        (Left, Left) => new_inc > old_inc,
        (Left, _) => new_inc >= old_inc,
    }
}

impl Membership {
    /// A node with this identity (its own record), configuration and RNG
    /// seed. Nothing happens until the first tick or command.
    pub fn new(
        identity: PeerRecord,
        config: MembershipConfig,
        rng_seed: u64,
    ) -> Result<Self, MembershipError> {
        config.validate()?;
        identity
            .validate()
            .map_err(|e| MembershipError::InvalidRecord(e.to_string()))?;
        let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
        let members = MemberTable::new(rng.random());
        let mut broadcasts = BroadcastQueue::new(rng.random());
        // A record no message could carry travels as its state alone.
        broadcasts.set_record_limit(config.max_gossip_bytes.max(config.max_piggyback_bytes));
        Ok(Membership {
            config,
            me: Arc::new(identity),
            incarnation: 0,
            leaving: false,
            members,
            broadcasts,
            suspicions: Suspicions::default(),
            probe: None,
            relays: Vec::new(),
            reconnects: Vec::new(),
            verifications: Vec::new(),
            checks: Vec::new(),
            local_health: 0,
            clean_probes: 0,
            rng,
            outputs: VecDeque::new(),
            seq: 0,
            started: false,
            next_probe_ms: 0,
            next_gossip_ms: 0,
            next_eager_ms: 0,
            next_push_pull_ms: 0,
            next_reconnect_ms: 0,
            next_reclaim_ms: 0,
            join: None,
            joined: false,
            signer: None,
            joining: join::Joining::new(),
            my_sig: None,
            words: HashMap::new(),
            claims_refused: 0,
            unix_epoch_ms: 0,
            next_announce_ms: 0,
            round_trips: rtt::RoundTrips::default(),
            asks: asks::RecordAsks::default(),
        })
    }

    /// Signs this node's record with `identity` from now on (the current
    /// record now, and every new version). The identity must be this
    /// node's: its derived node id must be the record's.
    pub fn set_identity(&mut self, identity: Identity) -> Result<(), MembershipError> {
        if identity.node_id() != self.me.node_id {
            return Err(MembershipError::IdentityChange);
        }
        self.me = Arc::new(sign_record(&identity, (*self.me).clone()));
        self.signer = Some(identity);
        self.resign();
        Ok(())
    }

    /// A node that starts from an already converged member table (the
    /// simulator's large clusters). The table must not hold `identity`.
    pub(crate) fn from_table(
        identity: PeerRecord,
        config: MembershipConfig,
        rng_seed: u64,
        table: MemberTable,
    ) -> Result<Self, MembershipError> {
        let mut m = Membership::new(identity, config, rng_seed)?;
        m.members = table;
        m.members.randomize_probe_start(&mut m.rng);
        m.joined = true;
        Ok(m)
    }

    // ----- accessors -------------------------------------------------------

    /// This node's id.
    pub fn node_id(&self) -> &NodeId {
        &self.me.node_id
    }

    /// This node's current record.
    pub fn record(&self) -> &Arc<PeerRecord> {
        &self.me
    }

    /// This node's incarnation.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// Lifeguard's local-health score (0 = healthy).
    pub fn local_health(&self) -> u32 {
        self.local_health
    }

    /// Whether this node has left.
    pub fn has_left(&self) -> bool {
        self.leaving
    }

    /// Members known (any liveness), not counting this node.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no other member is known.
    pub fn is_empty(&self) -> bool {
        self.members.len() == 0
    }

    /// Members alive or suspect, not counting this node.
    pub fn present(&self) -> usize {
        self.members.present()
    }

    /// One member.
    pub fn member(&self, id: &NodeId) -> Option<MemberView> {
        self.members.get(id).map(MemberView::of)
    }

    /// Every member known.
    pub fn members(&self) -> impl Iterator<Item = MemberView> + '_ {
        self.members.iter().map(MemberView::of)
    }

    /// The member the next probe will go to, when it is already known
    /// (a driver may open a connection to it ahead of time). `None` after
    /// leaving, with no member, or at the end of a round-robin pass.
    pub fn upcoming_probe_target(&self) -> Option<&NodeId> {
        if self.leaving {
            return None;
        }
        self.members.peek_probe_target()
    }

    /// Updates waiting to be disseminated.
    pub fn pending_updates(&self) -> usize {
        self.broadcasts.len()
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_tick`](Self::handle_tick) should next be called (ms),
    /// or `None` before the first tick.
    pub fn next_deadline(&self) -> Option<u64> {
        if !self.started {
            return None;
        }
        let mut d = self.next_gossip_ms;
        if !self.leaving {
            d = d.min(self.next_probe_ms).min(self.next_push_pull_ms);
        }
        if let Some(p) = &self.probe {
            if !p.acked && !p.indirect_sent {
                d = d.min(p.indirect_at_ms);
            }
        }
        if !self.members.down().is_empty() {
            d = d.min(self.next_reconnect_ms).min(self.next_reclaim_ms);
        }
        if let Some(s) = self.suspicions.next_deadline() {
            d = d.min(s);
        }
        if !self.checks.is_empty() {
            d = 0; // at once
        }
        for v in &self.verifications {
            d = d.min(if v.acked || v.indirect_sent {
                v.end_ms
            } else {
                v.indirect_at_ms
            });
        }
        for r in &self.relays {
            d = d.min(r.deadline_ms);
        }
        for r in &self.reconnects {
            d = d.min(r.deadline_ms);
        }
        if let Some(j) = &self.join {
            d = d.min(j.next_ms);
        }
        if self.config.seed_compatible && !self.leaving {
            d = d.min(self.next_announce_ms);
        }
        Some(d)
    }

    // ----- inputs ----------------------------------------------------------

    /// Decodes and handles raw bytes from `from`. A message that does not
    /// decode is counted against the sender's health and changes nothing
    /// else.
    pub fn handle_bytes(&mut self, from: &NodeId, bytes: &[u8], now: u64) -> Result<(), WireError> {
        let decoded = if self.config.seed_compatible {
            wire::decode_seed_compatible(bytes)
        } else {
            wire::decode(bytes)
        };
        match decoded {
            Ok(msg) => {
                self.handle_message(from, msg, now);
                Ok(())
            }
            Err(e) => {
                self.handle_malformed(from, now);
                Err(e)
            }
        }
    }

    /// Counts a malformed message from `from` against its health.
    pub fn handle_malformed(&mut self, from: &NodeId, now: u64) {
        self.ensure_started(now);
        self.outcome(from, false);
    }

    /// A connection or send to `to` failed: counted against its health.
    pub fn handle_transport_failure(&mut self, to: &NodeId, now: u64) {
        self.ensure_started(now);
        self.outcome(to, false);
    }

    /// A connection to `to` was established: counted for its health.
    pub fn handle_transport_success(&mut self, to: &NodeId, now: u64) {
        self.ensure_started(now);
        self.outcome(to, true);
    }

    /// Handles a local command.
    pub fn handle_command(&mut self, command: Command, now: u64) -> Result<(), MembershipError> {
        self.ensure_started(now);
        if self.leaving {
            return Err(MembershipError::Left);
        }
        match command {
            Command::Join { seeds } => {
                self.join = Some(JoinState {
                    seeds,
                    attempts: 0,
                    next_ms: now,
                });
                self.join_attempt(now);
            }
            Command::Leave => {
                self.leaving = true;
                self.resign();
                self.probe = None;
                self.suspicions.clear();
                self.join = None;
                let st = self.my_state();
                self.broadcasts.push(st, None);
                // Push the news at once, to twice the fanout.
                for _ in 0..2 {
                    self.gossip_round(now);
                }
            }
            Command::UpdateCapabilities(caps) => {
                let mut rec = (*self.me).clone();
                rec.capabilities = caps;
                self.set_own_record(rec)?;
            }
            Command::UpdateRecord(rec) => {
                if rec.node_id != self.me.node_id {
                    return Err(MembershipError::IdentityChange);
                }
                self.set_own_record(rec)?;
            }
        }
        Ok(())
    }

    /// Handles one decoded message from `from`.
    pub fn handle_message(&mut self, from: &NodeId, msg: Message, now: u64) {
        self.ensure_started(now);
        if *from == self.me.node_id {
            return;
        }
        let unknown = match self.members.get_mut(from) {
            Some(m) => {
                m.heard(now);
                false
            }
            None => true,
        };
        let asks_records = matches!(
            msg,
            Message::Hello(_) | Message::PeerList(_) | Message::PushPull(_)
        );
        if unknown && !asks_records && !self.leaving && self.may_ask(from, asks::NEWEST, now) {
            // Someone we never heard of talks to us: it exists; get its record.
            let req = PeerListRequest {
                node_ids: vec![from.clone()],
            };
            self.send(from, Message::PeerListRequest(req));
        }
        match msg {
            Message::Hello(h) => self.on_hello(from, h, now),
            Message::PeerListRequest(r) => self.on_peer_list_request(from, r),
            Message::PeerList(pl) => {
                if pl.peers.first().is_some_and(|r| r.node_id == *from) {
                    // Its own record first: an answer to a hello.
                    self.joining.answered_by(from, now);
                }
                let join_answer = self.join.take().is_some() || !self.joined;
                if join_answer {
                    self.joined = true;
                    self.joining.joined(now, pl.peers.len());
                    // Announce myself too: the seed is not the only source.
                    let st = self.my_state();
                    self.broadcasts.push(st, Some(self.me.clone()));
                    // Anti-entropy soon after joining, and at the catch-up
                    // pace until exchanges teach nothing (join.rs).
                    self.catch_up(now);
                }
                // The records of the join's own answer are not learning in
                // bulk (a node joining a settled cluster learns them all
                // at once, and nothing after): see `Joining::probe_slowdown`.
                self.joining.counting = !join_answer;
                self.apply_updates(from, pl.peers, pl.states, Source::Digest, now);
                self.joining.counting = true;
            }
            Message::GossipAnnouncement(g) => self.on_announcement(from, g, now),
            Message::Ping(p) => {
                let accused = p
                    .states
                    .iter()
                    .any(|s| s.node_id == self.me.node_id && s.liveness != Liveness::Alive);
                self.apply_updates(from, p.peers, p.states, Source::Gossip, now);
                if p.target == self.me.node_id {
                    let mut pig = self.piggyback(self.config.max_piggyback_bytes, from);
                    if accused && !pig.states.iter().any(|s| s.node_id == self.me.node_id) {
                        // A probe that carries a suspicion of me: the ack
                        // carries the refutation.
                        pig.states.push(self.my_state());
                    }
                    let ack = Ack {
                        seq: p.seq,
                        node_id: None,
                        peers: pig.peers,
                        states: pig.states,
                    };
                    self.send(from, Message::Ack(ack));
                }
            }
            Message::Ack(a) => {
                self.apply_updates(from, a.peers, a.states, Source::Gossip, now);
                match &a.node_id {
                    Some(target) => self.on_ack(a.seq, target, now),
                    None => self.on_ack(a.seq, from, now),
                }
            }
            Message::Nack(n) => {
                if let Some(p) = &mut self.probe {
                    if p.seq == n.seq && p.target == n.target {
                        p.nacks += 1;
                    }
                }
            }
            Message::PingReq(r) => self.on_ping_req(from, r, now),
            Message::PushPull(pp) => self.on_push_pull(from, pp, now),
            Message::Suspect(c) => self.on_claim(from, c, Liveness::Suspect, now),
            Message::Alive(c) => self.on_claim(from, c, Liveness::Alive, now),
            Message::Dead(c) => self.on_claim(from, c, Liveness::Dead, now),
            Message::Leave(c) => self.on_claim(from, c, Liveness::Left, now),
        }
        if unknown {
            // Its first message made it a member (its hello, its record):
            // that is first-hand evidence of life too.
            if let Some(m) = self.members.get_mut(from) {
                m.heard(now);
            }
        }
    }

    /// Runs everything due at `now`: probes, gossip, anti-entropy,
    /// suspicion timeouts, reconnects, reclaiming, join retries.
    pub fn handle_tick(&mut self, now: u64) {
        self.ensure_started(now);
        if let Some(j) = &self.join {
            if now >= j.next_ms {
                self.join_attempt(now);
            }
        }
        if !self.leaving {
            let indirect_due = self
                .probe
                .as_ref()
                .is_some_and(|p| !p.acked && !p.indirect_sent && now >= p.indirect_at_ms);
            if indirect_due {
                self.send_indirect_probes(now);
            }
            if now >= self.next_probe_ms {
                self.finish_probe(now);
                self.start_probe(now);
            }
        }
        self.expire_relays(now);
        self.expire_reconnects(now);
        self.expire_suspicions(now);
        self.start_checks(now);
        self.run_verifications(now);
        if now >= self.next_gossip_ms {
            self.next_gossip_ms = now + self.config.gossip_interval_ms;
            self.gossip_round(now);
            self.notify_suspects();
        }
        if !self.leaving && now >= self.next_push_pull_ms {
            self.push_pull_round(now);
        }
        if now >= self.next_reconnect_ms {
            self.next_reconnect_ms = now + self.config.reconnect_interval_ms;
            if !self.leaving {
                self.reconnect_one(now);
            }
        }
        if now >= self.next_reclaim_ms {
            self.next_reclaim_ms = now + 1_000;
            self.reclaim(now);
        }
        self.seed_announce(now);
    }

    // ----- internals: bookkeeping -----------------------------------------

    fn ensure_started(&mut self, now: u64) {
        if self.started {
            return;
        }
        self.started = true;
        let r = &mut self.rng;
        self.next_probe_ms = now + r.random_range(0..self.config.probe_interval_ms);
        self.next_gossip_ms = now + r.random_range(0..self.config.gossip_interval_ms);
        let pp = self
            .config
            .push_pull_interval(self.members.present() + 1)
            .max(1);
        self.next_push_pull_ms = now + r.random_range(0..pp);
        self.next_reconnect_ms = now + r.random_range(0..self.config.reconnect_interval_ms.max(1));
        self.next_reclaim_ms = now + 1_000;
        self.next_announce_ms = now;
    }

    fn cluster_size(&self) -> usize {
        self.members.present() + 1
    }

    /// How recent first-hand evidence of life must be for this node to
    /// disbelieve a third party's dead claim: two probe intervals, well
    /// below the silence that precedes a real declaration (a failed probe,
    /// then the suspicion timeout).
    fn dead_claim_window(&self) -> u64 {
        2 * self.config.probe_interval_ms
    }

    fn push_pull_interval(&self) -> u64 {
        self.config.push_pull_interval(self.cluster_size())
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn emit(&mut self, o: Output) {
        self.outputs.push_back(o);
    }

    fn event(&mut self, e: MembershipEvent) {
        self.outputs.push_back(Output::Event(e));
    }

    fn send(&mut self, to: &NodeId, message: Message) {
        self.outputs.push_back(Output::Send {
            to: Target::Node(to.clone()),
            message,
        });
    }

    /// The signature check of a record received from `from`
    /// ([`check_record`], or `verdict` when the check was already made
    /// with others in a batch); a refused record is reported and counted
    /// against the sender.
    fn admit(
        &mut self,
        rec: &PeerRecord,
        from: &NodeId,
        verdict: Option<Result<(), crate::identity::VerifyError>>,
    ) -> bool {
        let verdict =
            verdict.unwrap_or_else(|| check_record(rec, self.config.require_signed_records));
        match verdict {
            Ok(()) => true,
            Err(reason) => {
                self.outcome(from, false);
                self.event(MembershipEvent::RecordRefused {
                    node_id: rec.node_id.clone(),
                    from: from.clone(),
                    reason,
                });
                false
            }
        }
    }

    fn outcome(&mut self, id: &NodeId, success: bool) {
        if let Some(m) = self.members.get_mut(id) {
            m.record_outcome(success);
            self.emit(Output::Registry(RegistryChange::Outcome {
                node_id: id.clone(),
                success,
            }));
        }
    }

    fn my_state(&self) -> MemberState {
        let mut st = MemberState::new(
            self.me.node_id.clone(),
            self.incarnation,
            self.my_liveness(),
            self.me.version,
        );
        st.sig = self.my_sig.clone();
        st
    }

    fn state_of(m: &Member, from: Option<NodeId>) -> MemberState {
        MemberState {
            node_id: m.node_id().clone(),
            incarnation: m.incarnation,
            liveness: m.liveness,
            version: m.record.version,
            from: match m.liveness {
                Liveness::Suspect | Liveness::Dead => from,
                _ => None,
            },
            sig: None,
        }
    }

    fn claim(&self, node_id: &NodeId, incarnation: u64, version: u64) -> StateClaim {
        let mut c = StateClaim::new(node_id.clone(), incarnation, version);
        c.from = Some(self.me.node_id.clone());
        c
    }

    /// Updates for one message to `to`. Each is sent `retransmit_limit`
    /// times, times `1 + local_health / 2` under loss: a node whose own
    /// probes fail is losing messages, and so are the copies it sends.
    fn piggyback(&mut self, budget: usize, to: &NodeId) -> Piggyback {
        let limit = self.config.retransmit_limit(self.cluster_size()) * (1 + self.local_health / 2);
        self.broadcasts.take(budget, limit, to)
    }

    fn awareness(&self, weight: f64) -> f64 {
        1.0 + f64::from(self.local_health) * weight
    }

    /// `(probe interval, direct-ack timeout)` under the local-health
    /// multiplier: the timeout takes Lifeguard's full `1 + score` (capped
    /// at 80 % of the interval), the interval `1 + score * weight`. Slow
    /// answers stretch both: a probe waits at least the round-trip
    /// estimate for its direct ack (`rtt.rs`), and the interval leaves as
    /// long again for the indirect round after it; on a quiet network the
    /// estimate is far below both.
    fn probe_timing(&self) -> (u64, u64) {
        let f = self.awareness(self.config.awareness_interval_weight);
        let r = self.probe_round_trip();
        let interval = ((self.config.probe_interval_ms as f64 * f) as u64).max(2 * r);
        let timeout = (self.config.probe_timeout_ms * (1 + u64::from(self.local_health)))
            .max(r)
            .min(interval * 4 / 5)
            .max(self.config.probe_timeout_ms.min(interval));
        (interval, timeout)
    }

    /// `from` greeted this node on a new connection: its record is likely
    /// to follow (a `hello`, a digest), so it is not asked for on the
    /// greeting alone; it is asked for if a message still comes from an
    /// unknown `from` a round trip later (`asks.rs`).
    pub fn expect_record(&mut self, from: &NodeId, now: u64) {
        if self.members.get(from).is_none() {
            self.may_ask(from, asks::NEWEST, now);
        }
    }

    /// Whether `id`'s record (at `version` or above; 0: any) may be asked
    /// for now: once per probe interval or two round trips, whichever is
    /// longer (an answer slower than that, or lost, is asked for again).
    pub(super) fn may_ask(&mut self, id: &NodeId, version: u64, now: u64) -> bool {
        let window = self
            .config
            .probe_interval_ms
            .max(2 * self.probe_round_trip());
        self.asks.ask(id, version, now, window)
    }

    /// The probes' round-trip estimate, at most the longest probe timeout
    /// local health may reach (a member that answers slowly on purpose
    /// cannot stretch detection without bound).
    fn probe_round_trip(&self) -> u64 {
        let cap = self.config.probe_timeout_ms * (1 + u64::from(self.config.max_local_health));
        self.round_trips.timeout_ms().min(cap)
    }

    /// The suspicion timeout bounds for the cluster's size, stretched as
    /// the probe interval is by slow answers (a refutation needs the same
    /// round trips to come back).
    fn suspicion_bounds(&self) -> (u64, u64) {
        let (min, max) = self.config.suspicion_bounds(self.cluster_size());
        let stretch = (2 * self.probe_round_trip()) as f64 / self.config.probe_interval_ms as f64;
        let stretch = stretch.max(1.0);
        ((min as f64 * stretch) as u64, (max as f64 * stretch) as u64)
    }

    fn backoff(&mut self, attempts: u32) -> u64 {
        let exp = attempts.saturating_sub(1).min(20);
        let d = self
            .config
            .backoff_base_ms
            .saturating_mul(1 << exp)
            .min(self.config.backoff_cap_ms);
        d / 2 + self.rng.random_range(0..=d / 2)
    }

    fn set_own_record(&mut self, mut rec: PeerRecord) -> Result<(), MembershipError> {
        rec.version = rec.version.max(self.me.version + 1);
        rec.validate()
            .map_err(|e| MembershipError::InvalidRecord(e.to_string()))?;
        if let Some(id) = &self.signer {
            rec = sign_record(id, rec);
        } else {
            rec.signature = None;
        }
        self.me = Arc::new(rec);
        let st = self.my_state();
        self.broadcasts.push(st, Some(self.me.clone()));
        Ok(())
    }

    // ----- internals: join, bootstrap, announcements ----------------------

    // ----- internals: dissemination and anti-entropy ----------------------
}
