//! The protocol driver thread: it feeds the sans-IO membership core with
//! what the transport receives, with commands from the `Node` handle and
//! with ticks, and carries out what the core returns (frames to send,
//! registry changes, events).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{never, select, Receiver, Sender};

use super::bootstrap::{PendingBootstrap, SeedRetries};
use super::candidates::Candidates;
use super::datagram_path::{Channel, DatagramPath};
use super::event::{NodeEvent, NodeEventSink};
use super::greeting::{Greeter, Verdict};
use super::intake::{take_waiting, Input};
use super::routing::Routing;
use super::sealing;
use super::{BootstrapReport, NodeError};
use crate::mdns::MdnsEvent;
use crate::membership::{Command, Membership, MembershipEvent, Output, RegistryChange, Target};
use crate::model::{Capabilities, ConnectionState, NodeId, PeerAddress};
use crate::registry::PeerRegistry;
use crate::transport::{ConnectionId, Direction, TransportError, TransportEvent, TransportHandle};
use crate::wire::{self, Message, Nonce, StateClaim};

/// Longest sleep between two ticks when the core has nothing scheduled.
const MAX_IDLE: Duration = Duration::from_millis(500);
/// How long a refused connection stays open for its notice to go out.
const REFUSAL_LINGER_MS: u64 = 200;
/// After the `leave` frames are handed to the sockets, how long the
/// connections stay open for them to be flushed.
const LEAVE_LINGER: Duration = Duration::from_millis(10);
/// Most frames a dialer holds back until the listener's challenge arrives.
const MAX_HELD_FRAMES: usize = 256;
/// How long a `hello` sent on a live connection is waited for before the
/// core's next one goes on it (`Driver::hello_pending`), ms.
const HELLO_PATIENCE_MS: u64 = 5_000;
/// The longest a graceful stop waits for the `leave` announcements to be
/// written.
const LEAVE_FLUSH: Duration = Duration::from_millis(50);

/// What the `Node` handle asks of its driver.
pub(crate) enum DriverCommand {
    Bootstrap(Sender<BootstrapReport>),
    UpdateCapabilities(Capabilities, Sender<Result<(), NodeError>>),
    Stop,
    /// Stop without telling anyone, as a crash would.
    Abort,
}

/// Counters shared with the `Node` handle.
#[derive(Debug, Default)]
pub(crate) struct DriverCounters {
    pub frames_in: AtomicU64,
    pub frames_out: AtomicU64,
    pub malformed: AtomicU64,
    pub unidentified: AtomicU64,
    pub unroutable: AtomicU64,
    pub refused: AtomicU64,
    /// Greetings whose proof failed, and frames on connections whose
    /// greeting was not proven.
    pub greetings_refused: AtomicU64,
    /// Liveness claims the membership core refused.
    pub claims_refused: AtomicU64,
    /// `hello`s not sent again on a connection that carries one.
    pub hellos_held_back: AtomicU64,
    pub members: AtomicUsize,
    pub alive_members: AtomicUsize,
    pub local_health: AtomicUsize,
    pub datagrams_in: AtomicU64,
    pub datagrams_out: AtomicU64,
    pub datagram_bytes_out: AtomicU64,
    pub datagrams_malformed: AtomicU64,
    pub datagrams_refused: AtomicU64,
    pub datagrams_dropped: AtomicU64,
    pub datagram_fallback_peers: AtomicUsize,
    /// Messages sent, by type and channel.
    pub sent: super::traffic::Traffic,
}

pub(crate) struct Driver {
    pub core: Membership,
    pub me: NodeId,
    pub transport: Arc<TransportHandle>,
    pub events: Receiver<TransportEvent>,
    pub commands: Receiver<DriverCommand>,
    pub registry: PeerRegistry,
    pub epoch: Instant,
    pub bootstrap: Vec<PeerAddress>,
    /// Addresses of peers known before a restart (from the snapshot):
    /// joined through like bootstrap nodes, but not reported on by
    /// `discover_bootstrap`.
    pub remembered: Vec<PeerAddress>,
    pub bootstrap_timeout_ms: u64,
    pub rebootstrap_interval_ms: u64,
    pub gossip: bool,
    pub keyring: Option<crate::keyring::Keyring>,
    pub counters: Arc<DriverCounters>,
    pub routing: Routing,
    pub pending: Vec<PendingBootstrap>,
    pub next_rebootstrap_ms: u64,
    /// Bootstrap nodes that have not answered yet, said `hello` again with
    /// backoff until they do.
    pub seeds: SeedRetries,
    /// What the mDNS worker finds (never yields when mDNS is off).
    pub mdns: Receiver<MdnsEvent>,
    pub node_events: NodeEventSink,
    /// mDNS candidates waiting for their `hello` answer.
    pub candidates: Candidates,
    /// The upcoming probe target whose connection was last warmed up.
    pub warmed: Option<NodeId>,
    /// The UDP socket and who is reached through it (`None`: disabled).
    pub datagrams: Option<DatagramPath>,
    /// Datagrams received (never yields without the datagram path).
    pub datagram_rx: Receiver<crate::datagram::Received>,
    /// The sender of the message being handled and how it came: direct
    /// answers to it go back the same way.
    pub reply_channel: Option<(NodeId, Channel)>,
    /// Proves this node's id in greetings and checks the others'.
    pub greeter: Greeter,
}

impl Driver {
    pub(super) fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The thread body. Returns when told to stop or when the transport is
    /// gone.
    pub fn run(mut self) {
        let now = self.now();
        if !self.bootstrap.is_empty() || !self.remembered.is_empty() {
            self.join(now);
        }
        loop {
            let now = self.now();
            let mut wait = MAX_IDLE;
            if self.gossip {
                if let Some(d) = self.core.next_deadline() {
                    wait = wait.min(Duration::from_millis(d.saturating_sub(now)));
                }
            }
            for p in &self.pending {
                wait = wait.min(Duration::from_millis(p.deadline_ms().saturating_sub(now)));
            }
            for c in self.routing.conns.values() {
                if let Some(t) = c.close_at_ms {
                    wait = wait.min(Duration::from_millis(t.saturating_sub(now)));
                }
            }
            if let Some(d) = self.candidates.next_deadline() {
                wait = wait.min(Duration::from_millis(d.saturating_sub(now)));
            }
            if let Some(d) = self.seeds.next_deadline() {
                wait = wait.min(Duration::from_millis(d.saturating_sub(now)));
            }
            select! {
                recv(self.events) -> ev => match ev {
                    Ok(ev) => self.on_transport(ev),
                    Err(_) => break,
                },
                recv(self.commands) -> cmd => match cmd {
                    Ok(DriverCommand::Stop) | Err(_) => {
                        self.leave();
                        break;
                    }
                    Ok(DriverCommand::Abort) => break,
                    Ok(cmd) => self.on_command(cmd),
                },
                recv(self.datagram_rx) -> d => match d {
                    Ok(d) => self.on_datagram(d),
                    Err(_) => self.datagram_rx = never(),
                },
                recv(self.mdns) -> ev => match ev {
                    Ok(ev) => self.on_mdns(ev),
                    // The worker stopped: nothing more will come.
                    Err(_) => self.mdns = never(),
                },
                default(wait) => {}
            }
            // Take whatever else is waiting before ticking, datagrams
            // (probes, acks) ahead of the stream's backlog (intake.rs).
            let (datagrams, events) = (self.datagram_rx.clone(), self.events.clone());
            take_waiting(&datagrams, &events, |input| match input {
                Input::Datagram(d) => self.on_datagram(d),
                Input::Stream(ev) => self.on_transport(ev),
            });
            let now = self.now();
            if self.gossip {
                self.core.handle_tick(now);
            }
            self.drain();
            if self.gossip {
                self.warm_up_probe_target();
            }
            self.finish_bootstraps(now);
            self.retry_seeds(now);
            self.tick_candidates(now);
            self.maybe_rebootstrap(now);
            self.close_refused(now);
            self.publish_counts();
        }
        if let Some(p) = self.datagrams.as_mut() {
            p.stop();
        }
        let _ = self.transport.stop();
    }

    fn join(&mut self, now: u64) {
        let seeds = self
            .bootstrap
            .iter()
            .chain(&self.remembered)
            .cloned()
            .map(Target::Address)
            .collect();
        // A new join (the start, `discover_bootstrap`, a re-bootstrap)
        // says hello at once; only the core's retries of it wait
        // (`hello_pending`).
        for c in self.routing.conns.values_mut() {
            c.hello_at_ms = None;
        }
        if let Err(e) = self.core.handle_command(Command::Join { seeds }, now) {
            log::warn!("peerdisc: join failed: {e}");
        }
        self.next_rebootstrap_ms = now + self.rebootstrap_interval_ms;
        self.drain();
    }

    fn maybe_rebootstrap(&mut self, now: u64) {
        if (self.bootstrap.is_empty() && self.remembered.is_empty())
            || now < self.next_rebootstrap_ms
        {
            return;
        }
        self.next_rebootstrap_ms = now + self.rebootstrap_interval_ms;
        if self.core.present() == 0 {
            log::info!(
                "peerdisc: {} knows no live peer; asking the bootstrap nodes again",
                self.me
            );
            self.join(now);
        }
    }

    /// A bootstrap node could not be used: one warning per node (naming its
    /// URL and the reason) until it answers.
    fn seed_failed(&mut self, addr: &PeerAddress, reason: &str) {
        if let Some(w) = self.seeds.failed(addr, reason) {
            log::warn!("peerdisc: {}: {w}", self.me);
        }
    }

    /// Says `hello` again to the bootstrap nodes that have not answered
    /// yet and whose backoff ran out.
    fn retry_seeds(&mut self, now: u64) {
        for w in self.seeds.silent(now, self.bootstrap_timeout_ms) {
            log::warn!("peerdisc: {}: {w}", self.me);
        }
        for addr in self.seeds.due(now) {
            log::debug!(
                "peerdisc: {}: bootstrap node {addr} has not answered yet; saying hello again",
                self.me
            );
            self.say_hello(addr);
        }
    }

    fn leave(&mut self) {
        let now = self.now();
        let queued_before = self.counters.frames_out.load(Ordering::Relaxed);
        let sent_before = self.transport.stats().messages_sent;
        if self.core.handle_command(Command::Leave, now).is_ok() {
            self.drain();
            // Let the connection threads write the news: wait until as many
            // frames as the leave queued are on the wire (bounded).
            let leave_frames = self.counters.frames_out.load(Ordering::Relaxed) - queued_before;
            let deadline = Instant::now() + LEAVE_FLUSH;
            while Instant::now() < deadline
                && self.transport.stats().messages_sent - sent_before < leave_frames
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            // A frame handed to the socket may still sit in its buffer.
            std::thread::sleep(LEAVE_LINGER);
        }
        for p in self.pending.drain(..) {
            p.finish(&self.me);
        }
    }

    fn on_command(&mut self, cmd: DriverCommand) {
        let now = self.now();
        match cmd {
            DriverCommand::Bootstrap(reply) => {
                let p = PendingBootstrap::new(
                    &self.bootstrap,
                    &self.seeds,
                    reply,
                    now,
                    self.bootstrap_timeout_ms,
                );
                self.pending.push(p);
                self.join(now);
            }
            DriverCommand::UpdateCapabilities(caps, reply) => {
                let r = self
                    .core
                    .handle_command(Command::UpdateCapabilities(caps), now)
                    .map_err(|e| NodeError::Config(e.to_string()));
                self.drain();
                let _ = reply.send(r);
            }
            DriverCommand::Stop | DriverCommand::Abort => unreachable!("handled in run"),
        }
    }

    fn finish_bootstraps(&mut self, now: u64) {
        let mut i = 0;
        while i < self.pending.len() {
            if self.pending[i].is_done(now) {
                let p = self.pending.swap_remove(i);
                p.finish(&self.me);
            } else {
                i += 1;
            }
        }
    }

    // ---- mDNS ----

    fn is_present_member(&self, id: &NodeId) -> bool {
        self.core
            .member(id)
            .is_some_and(|m| m.liveness.is_present())
    }

    fn on_mdns(&mut self, ev: MdnsEvent) {
        let now = self.now();
        match ev {
            MdnsEvent::Candidate(c) => {
                if c.node_id == self.me {
                    return;
                }
                let known = self.is_present_member(&c.node_id);
                let (ev, dial) = self.candidates.offer(&c, known, now);
                if let Some(ev) = ev {
                    self.node_events.emit(ev);
                }
                if let Some(addr) = dial {
                    log::debug!(
                        "{}: mDNS found {} at {addr}; saying hello",
                        self.me,
                        c.node_id
                    );
                    self.say_hello(addr);
                }
            }
            MdnsEvent::Gone { node_id, .. } => {
                // The member is left as it is and no extra probe is sent
                // (the membership core has no command for one): the
                // ordinary probe cycle reaches it in its turn and decides.
                // A goodbye is also sent by a node that only restarts, and
                // a graceful stop's `leave` arrives over the protocol.
                // Only the pending candidate is forgotten.
                log::debug!("{}: mDNS service of {node_id} is gone", self.me);
                self.candidates.gone(&node_id);
                self.node_events.emit(NodeEvent::MdnsGone { node_id });
            }
            MdnsEvent::Unavailable { reason } => {
                log::warn!(
                    "peerdisc: {}: mDNS discovery is unavailable ({reason}); \
                     continuing with bootstrap nodes and gossip",
                    self.me
                );
                self.node_events.emit(NodeEvent::MdnsUnavailable { reason });
            }
        }
    }

    /// Sends our `hello` to a candidate's address; its `peer_list` answer
    /// makes it a member (the membership core merges it like any answer).
    fn say_hello(&mut self, addr: PeerAddress) {
        let hello = Message::Hello(self.core.hello());
        self.send(Target::Address(addr), &hello);
    }

    fn tick_candidates(&mut self, now: u64) {
        let core = &self.core;
        let (events, dial) = self.candidates.tick(now, |id| {
            core.member(id).is_some_and(|m| m.liveness.is_present())
        });
        for ev in events {
            self.node_events.emit(ev);
        }
        for addr in dial {
            self.say_hello(addr);
        }
    }

    fn publish_counts(&self) {
        let c = &self.counters;
        c.members.store(self.core.len(), Ordering::Relaxed);
        c.alive_members
            .store(self.core.present(), Ordering::Relaxed);
        c.local_health
            .store(self.core.local_health() as usize, Ordering::Relaxed);
        if let Some(p) = &self.datagrams {
            let d = p.counts();
            c.datagrams_in.store(d.datagrams_in, Ordering::Relaxed);
            c.datagrams_out.store(d.datagrams_out, Ordering::Relaxed);
            c.datagram_bytes_out
                .store(d.datagram_bytes_out, Ordering::Relaxed);
            c.datagrams_malformed
                .store(d.datagrams_malformed, Ordering::Relaxed);
            c.datagrams_refused
                .store(d.datagrams_refused, Ordering::Relaxed);
            c.datagrams_dropped
                .store(d.datagrams_dropped, Ordering::Relaxed);
            c.datagram_fallback_peers
                .store(d.fallback_peers, Ordering::Relaxed);
        }
        c.claims_refused
            .store(self.core.claims_refused(), Ordering::Relaxed);
    }

    // ---- transport events ----

    fn on_transport(&mut self, ev: TransportEvent) {
        let now = self.now();
        match ev {
            TransportEvent::Connected {
                conn,
                direction,
                peer,
                ..
            } => {
                let c = self.routing.conn(conn);
                c.open = true;
                c.last_used_ms = now;
                if direction == Direction::Outbound {
                    c.dialed = peer;
                }
                self.keep_connection_budget(conn);
                if let Some(id) = self.routing.peer_of(conn) {
                    self.set_connection_state(&id, ConnectionState::Connected);
                    self.core.handle_transport_success(&id, now);
                }
            }
            TransportEvent::Received { conn, text, .. } => self.on_frame(conn, &text, now),
            TransportEvent::Disconnected { conn, reason, .. } => {
                let id = self.routing.peer_of(conn);
                if let Some(c) = self.routing.conns.remove(&conn) {
                    if let Some(addr) = c.dialed {
                        let why = format!("connection closed before the answer ({reason:?})");
                        if let Some(ev) = self.candidates.failed(&addr, &why, now) {
                            self.node_events.emit(ev);
                        }
                    }
                }
                if let Some(id) = id {
                    if !self.routing.has_other_conn(&id, conn) {
                        self.set_connection_state(&id, ConnectionState::Disconnected);
                    }
                    if reason.is_failure() {
                        self.core.handle_transport_failure(&id, now);
                    }
                }
            }
            TransportEvent::ConnectFailed { conn, peer, error } => {
                self.routing.conns.remove(&conn);
                self.seed_failed(&peer, &error.to_string());
                for p in &mut self.pending {
                    p.failed(&peer, error.to_string());
                }
                if let Some(ev) = self.candidates.failed(&peer, &error.to_string(), now) {
                    self.node_events.emit(ev);
                }
                if let Some(id) = self.routing.id_at(&peer).cloned() {
                    self.set_connection_state(&id, ConnectionState::Failed);
                    self.core.handle_transport_failure(&id, now);
                }
            }
            TransportEvent::Rejected { remote, reason, .. } => {
                log::debug!("peerdisc: transport refused {remote}: {reason:?}");
            }
        }
    }

    /// Keeps the number of connections at most three quarters of the
    /// transport's limit, closing the least recently used ones, so that
    /// there is always room for peers that dial in (the transport refuses
    /// inbound connections at its limit).
    fn keep_connection_budget(&mut self, keep: ConnectionId) {
        let budget = (self.transport.config().max_connections * 3 / 4).max(2);
        while self.routing.conns.len() > budget {
            let Some(old) = self.routing.least_recently_used(Some(keep)) else {
                break;
            };
            self.transport.close_connection(old);
            if let Some(id) = self.routing.peer_of(old) {
                self.routing.conns.remove(&old);
                if !self.routing.has_other_conn(&id, old) {
                    self.set_connection_state(&id, ConnectionState::Disconnected);
                }
            } else {
                self.routing.conns.remove(&old);
            }
        }
    }

    fn on_frame(&mut self, conn: ConnectionId, text: &str, now: u64) {
        self.counters.frames_in.fetch_add(1, Ordering::Relaxed);
        if self.routing.conn(conn).close_at_ms.is_some() {
            return;
        }
        self.routing.conn(conn).last_used_ms = now;
        if let Some(why) = sealing::parse_notice(text) {
            self.on_refused_by_peer(conn, why);
            return;
        }
        let text = match sealing::open(self.keyring.as_ref(), text) {
            Ok(t) => t,
            Err(why) => {
                self.refuse(conn, why);
                return;
            }
        };
        let text = text.as_str();
        let known = self.routing.peer_of(conn);
        if known.is_none() && super::admin::is_peer_table_request(text) {
            let max = self.transport.config().max_message_size;
            let table = super::admin::peer_table(&self.me, &self.registry, max);
            let reply = sealing::seal(self.keyring.as_ref(), table);
            let _ = self.transport.reply(conn, reply);
            return;
        }
        let msg = match super::seed_compat::decode(self.core.config().seed_compatible, text) {
            Ok(m) => m,
            Err(e) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                log::debug!("peerdisc: malformed frame on {conn:?}: {e}");
                if let Some(id) = known {
                    self.core.handle_malformed(&id, now);
                    self.drain();
                }
                return;
            }
        };
        let heard = self.routing.conn(conn).heard_greeting;
        let greeting = !heard && matches!(msg, Message::Alive(_));
        let from = match (&msg, known) {
            // The greeting names the sender of this connection, once proven.
            (Message::Alive(claim), _) if !heard => match self.on_greeting(conn, claim) {
                Some(id) => id,
                None => return,
            },
            (_, Some(id)) if heard || !self.greeter.needs_proof(&id) => id,
            (msg, _) => {
                let c = self.routing.conn(conn);
                if let Some(who) = c.claimed.clone() {
                    self.refuse_unproven(conn, &who, "a frame before the greeting's proof");
                    return;
                }
                // A seed-system node sends its announcement bare (it has a
                // hand-picked id: one that must be proven cannot be named so).
                match super::seed_compat::bare_sender(msg)
                    .filter(|_| self.core.config().seed_compatible)
                    .filter(|id| !self.greeter.needs_proof(id))
                {
                    Some(id) => {
                        self.identify(conn, &id);
                        id
                    }
                    None => {
                        self.counters.unidentified.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
            }
        };
        if let Message::PeerList(list) = &msg {
            let dialed = self.routing.conns.get(&conn).and_then(|c| c.dialed.clone());
            // The bootstrap node's address: the one dialled, or (when it
            // dialled in first and the answer came back over that
            // connection) the one it advertises.
            let addr = dialed
                .clone()
                .or_else(|| self.routing.address_of(&from).cloned())
                .or_else(|| {
                    list.peers
                        .first()
                        .and_then(|r| r.addresses.iter().find(|a| !a.is_datagram()).cloned())
                });
            if let Some(addr) = &addr {
                self.seeds.answered(addr);
                for p in &mut self.pending {
                    p.answered(addr, list.peers.iter().map(|r| r.node_id.clone()));
                }
            }
            if let Some(ev) = self.candidates.answered(dialed.as_ref(), &from) {
                self.node_events.emit(ev);
            }
        }
        if self.registry.contains(from.as_str()) {
            let _ = self.registry.touch(from.as_str());
        }
        if self.gossip || !matches!(msg, Message::GossipAnnouncement(_)) {
            if greeting {
                // What follows a greeting (a hello, a digest) carries the
                // sender's record: not asked for on the greeting alone.
                self.core.expect_record(&from, now);
            }
            self.handle_over_websocket(&from, msg, now);
        }
        self.drain();
    }

    /// A greeting on a connection whose other side has not been named:
    /// returns the sender once it is proven (or needs no proof).
    fn on_greeting(&mut self, conn: ConnectionId, g: &StateClaim) -> Option<NodeId> {
        let id = g.node_id.clone();
        if id == self.me {
            self.counters.unidentified.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let c = self.routing.conn(conn);
        if c.claimed.as_ref().is_some_and(|who| *who != id) {
            self.refuse_unproven(conn, &id, "a second greeting under another id");
            return None;
        }
        if g.nonce.is_some() {
            c.their_nonce = g.nonce.clone();
        }
        match self.greeter.judge(g, c.nonce.as_ref()) {
            Verdict::Named => {
                let c = self.routing.conn(conn);
                c.heard_greeting = true;
                c.claimed = None;
                let dialer_must_prove = c.dialed.is_some() && self.greeter.proves();
                self.identify(conn, &id);
                if dialer_must_prove {
                    self.prove_and_flush(conn);
                }
                Some(id)
            }
            Verdict::Challenge => {
                let c = self.routing.conn(conn);
                if c.dialed.is_some() {
                    // The listener greets with its proof: it must not wait
                    // for this side's.
                    self.refuse_unproven(conn, &id, "the listener's greeting has no proof");
                    return None;
                }
                c.claimed = Some(id);
                // Greet back at once: this side's proof, and a challenge.
                c.nonce.get_or_insert_with(Nonce::random);
                self.greet_on(conn);
                None
            }
            Verdict::Refused(why) => {
                self.refuse_unproven(conn, &id, &why);
                None
            }
        }
    }

    /// A dialer that has the listener's challenge: its proof (a second
    /// greeting), then the frames it held back.
    fn prove_and_flush(&mut self, conn: ConnectionId) {
        let c = self.routing.conn(conn);
        let held = std::mem::take(&mut c.held);
        if c.their_nonce.is_some() {
            self.send_greeting(conn);
        }
        for text in held {
            if self.transport.reply(conn, text).is_ok() {
                self.counters.frames_out.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A greeting that does not prove its id, or a frame before the
    /// proof: counted, logged once per peer, and the connection closed.
    fn refuse_unproven(&mut self, conn: ConnectionId, who: &NodeId, why: &str) {
        self.counters
            .greetings_refused
            .fetch_add(1, Ordering::Relaxed);
        self.greeter.warn_once(
            &self.me,
            who,
            &format!("a greeting or frame as {who}: {why}"),
        );
        let at = self.now() + REFUSAL_LINGER_MS;
        let c = self.routing.conn(conn);
        if c.close_at_ms.is_none() {
            c.close_at_ms = Some(at);
        }
    }

    /// Refuses a connection whose frames do not match this node's cluster
    /// key setting: one plaintext notice, then the connection is closed.
    fn refuse(&mut self, conn: ConnectionId, why: sealing::Refusal) {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
        let peer = self
            .routing
            .peer_of(conn)
            .map(|p| p.to_string())
            .unwrap_or_else(|| "an unnamed peer".into());
        log::warn!(
            "peerdisc: {}: refusing {peer}: {}",
            self.me,
            why.explain_here()
        );
        let _ = self.transport.reply(conn, why.notice());
        // Closing drops what is queued: close once the notice is written.
        let at = self.now() + REFUSAL_LINGER_MS;
        self.routing.conn(conn).close_at_ms = Some(at);
    }

    /// Closes refused connections whose notice had time to go out.
    fn close_refused(&mut self, now: u64) {
        let due: Vec<ConnectionId> = self
            .routing
            .conns
            .iter()
            .filter(|(_, c)| c.close_at_ms.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for conn in due {
            self.transport.close_connection(conn);
            self.routing.conns.remove(&conn);
        }
    }

    /// The other side refused this node's frames (cluster key mismatch).
    fn on_refused_by_peer(&mut self, conn: ConnectionId, why: sealing::Refusal) {
        self.counters.refused.fetch_add(1, Ordering::Relaxed);
        let dialed = self.routing.conns.get(&conn).and_then(|c| c.dialed.clone());
        let whom = dialed
            .as_ref()
            .map(|a| a.to_string())
            .unwrap_or_else(|| "a peer".into());
        // A bootstrap node: one warning, however often it refuses.
        if let Some(seed) = dialed.as_ref().filter(|a| self.seeds.is_seed(a)) {
            let seed = seed.clone();
            self.seed_failed(&seed, why.explain());
        } else {
            log::warn!(
                "peerdisc: {}: refused by {whom}: {}",
                self.me,
                why.explain()
            );
        }
        if let Some(addr) = dialed {
            // A refusal is an answer: retrying would only be refused again.
            self.seeds.answered(&addr);
            for p in &mut self.pending {
                p.refused(&addr, why.explain().to_string());
            }
        }
        self.transport.close_connection(conn);
        self.routing.conns.remove(&conn);
    }

    /// Ties `conn` to `id` and, if `id`'s address is known, makes the
    /// transport reuse it for sends to that address.
    fn identify(&mut self, conn: ConnectionId, id: &NodeId) {
        self.routing.conn(conn).peer = Some(id.clone());
        if let Some(addr) = self.routing.address_of(id).cloned() {
            let _ = self.transport.associate(conn, addr);
        }
        self.set_connection_state(id, ConnectionState::Connected);
    }

    /// Sets a listed peer's connection state (a peer not listed yet gets it
    /// when its record arrives).
    fn set_connection_state(&self, id: &NodeId, state: ConnectionState) {
        if self.registry.contains(id.as_str()) {
            let _ = self.registry.set_connection_state(id.as_str(), state);
        }
    }

    // ---- core outputs ----

    pub(super) fn drain(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Send { to, message } => self.send(to, &message),
                Output::Registry(change) => self.apply(change),
                Output::Event(ev) => {
                    if let MembershipEvent::ClaimRefused {
                        node_id,
                        from,
                        reason,
                    } = &ev
                    {
                        let why = format!("a liveness claim about {node_id}: {reason}");
                        self.greeter.warn_once(&self.me, from, &why);
                    }
                    log_event(&self.me, &ev);
                    if let MembershipEvent::RecordRefused {
                        node_id,
                        from,
                        reason,
                    } = ev
                    {
                        self.node_events.emit(NodeEvent::RecordRefused {
                            node_id,
                            from,
                            reason: reason.to_string(),
                        });
                    }
                }
            }
        }
    }

    /// This side's greeting on `conn`: its signed `alive`, a challenge for
    /// the other side, and its proof of the other side's challenge.
    fn greeting(&mut self, conn: ConnectionId) -> String {
        let mut g = StateClaim::new(
            self.me.clone(),
            self.core.incarnation(),
            self.core.record().version,
        );
        g.sig = self.core.own_claim_signature().cloned();
        let c = self.routing.conn(conn);
        g.nonce = Some(c.nonce.get_or_insert_with(Nonce::random).clone());
        let to = c.peer.as_ref().or(c.claimed.as_ref());
        g.proof = match (to, &c.their_nonce) {
            (Some(to), Some(n)) => self.greeter.proof_for(to, n),
            _ => None,
        };
        wire::encode(&Message::Alive(g))
    }

    fn send(&mut self, to: Target, message: &Message) {
        if !self.send_datagram(&to, message) {
            return;
        }
        if let Target::Node(id) = &to {
            // A connection to the peer that is open already, either way,
            // carries the message (an answer goes back on the connection
            // its request came on): a new one would cost a TCP and
            // WebSocket handshake and a signed greeting each way, and a
            // seed answering a burst of joiners on connections of its own
            // would hold two per joiner, past its connection budget.
            if let Some(conn) = self.routing.open_conn_to(id) {
                self.send_on(conn, message);
                return;
            }
            if self.routing.address_of(id).is_none() {
                // No record yet (so no address), and no connection.
                self.counters.unroutable.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        if let Some(conn) = self.open_to(&to) {
            if matches!(message, Message::Hello(_)) && self.hello_pending(conn) {
                self.counters
                    .hellos_held_back
                    .fetch_add(1, Ordering::Relaxed);
                return;
            }
            self.send_on(conn, message);
        }
    }

    /// Whether a `hello` went out on `conn` less than `HELLO_PATIENCE_MS`
    /// ago, since the last join began (if not, this one is about to:
    /// noted). The core says `hello` again after one probe interval, for
    /// a hello or answer lost with its connection; on a connection that
    /// lives, the stream delivers the first one, and a seed slow to answer
    /// a burst of joins would answer every copy (in a cold start of 200
    /// daemons, a third of the joiners said hello five or six times and
    /// the seed sent 583 answers).
    fn hello_pending(&mut self, conn: ConnectionId) -> bool {
        let now = self.now();
        let c = self.routing.conn(conn);
        if c.hello_at_ms
            .is_some_and(|t| now < t.saturating_add(HELLO_PATIENCE_MS))
        {
            return true;
        }
        c.hello_at_ms = Some(now);
        false
    }

    /// Opens a connection to the next member the core will probe, and
    /// greets over it, ahead of the probe: the probe's short ack timeout
    /// then measures the peer, not a TCP and WebSocket handshake (which
    /// matters when a node keeps fewer connections than it has peers).
    fn warm_up_probe_target(&mut self) {
        let target = match self.core.upcoming_probe_target() {
            Some(t) if self.warmed.as_ref() != Some(t) => t.clone(),
            _ => return,
        };
        self.warmed = Some(target.clone());
        if !self.needs_websocket(&target)
            || self.routing.address_of(&target).is_none()
            || self.routing.open_conn_to(&target).is_some()
        {
            return;
        }
        if let Some(conn) = self.open_to(&Target::Node(target)) {
            self.greet_on(conn);
        }
    }

    /// The connection to `to`, opened if needed (closing the least recently
    /// used one when the transport is at its limit).
    fn open_to(&mut self, to: &Target) -> Option<ConnectionId> {
        let addr = match to {
            Target::Node(id) => self.routing.address_of(id)?.clone(),
            Target::Address(a) => a.clone(),
        };
        let conn = match self.transport.connect(&addr) {
            Ok(c) => c,
            Err(TransportError::ConnectionLimit { .. }) => {
                // Make room: close the least recently used connection.
                let old = self.routing.least_recently_used(None)?;
                self.transport.close_connection(old);
                self.routing.conns.remove(&old);
                self.transport.connect(&addr).ok()?
            }
            Err(TransportError::Backoff { retry_in, .. }) if self.seeds.is_waiting(&addr) => {
                // A bootstrap node still to be reached: retry once the
                // transport allows it.
                let at = self.now() + retry_in.as_millis() as u64;
                self.seeds.defer(&addr, at);
                return None;
            }
            Err(e) => {
                log::trace!("peerdisc: no connection to {addr}: {e}");
                self.seed_failed(&addr, &e.to_string());
                return None;
            }
        };
        let opening = !self.routing.conns.contains_key(&conn);
        {
            let c = self.routing.conn(conn);
            if c.dialed.is_none() && c.peer.is_none() {
                c.dialed = Some(addr.clone());
            }
        }
        if opening {
            if let Target::Node(id) = to {
                if !self.routing.has_other_conn(id, conn) {
                    self.set_connection_state(id, ConnectionState::Connecting);
                }
            }
        }
        Some(conn)
    }

    /// Greets on `conn` unless this side already has.
    fn greet_on(&mut self, conn: ConnectionId) {
        let now = self.now();
        let greet = {
            let c = self.routing.conn(conn);
            c.last_used_ms = now;
            !std::mem::replace(&mut c.greeted, true)
        };
        if greet {
            self.send_greeting(conn);
        }
    }

    /// Sends this side's greeting on `conn` (counted as `alive`).
    fn send_greeting(&mut self, conn: ConnectionId) {
        let g = self.greeting(conn);
        let g = sealing::seal(self.keyring.as_ref(), g);
        let len = g.len();
        if self.transport.reply(conn, g).is_ok() {
            self.counters.frames_out.fetch_add(1, Ordering::Relaxed);
            self.counters.sent.websocket("alive", len);
        }
    }

    /// Sends `message` on `conn`, greeting first if this side has not yet.
    fn send_on(&mut self, conn: ConnectionId, message: &Message) {
        self.greet_on(conn);
        let text = sealing::seal(self.keyring.as_ref(), wire::encode(message));
        let (kind, len) = (message.kind(), text.len());
        let c = self.routing.conn(conn);
        if c.dialed.is_some() && !c.heard_greeting && self.greeter.proves() {
            // Sent once this side has proven its id (the listener's
            // challenge has not arrived yet).
            if c.held.len() >= MAX_HELD_FRAMES {
                c.held.remove(0);
                self.counters.unroutable.fetch_add(1, Ordering::Relaxed);
            }
            // Counted now: it leaves with the proof (prove_and_flush).
            c.held.push(text);
            self.counters.sent.websocket(kind, len);
            return;
        }
        if self.transport.reply(conn, text).is_ok() {
            self.counters.frames_out.fetch_add(1, Ordering::Relaxed);
            self.counters.sent.websocket(kind, len);
        }
    }

    fn apply(&mut self, change: RegistryChange) {
        match &change {
            RegistryChange::Upsert(record) if record.node_id != self.me => {
                if let Some(p) = self.datagrams.as_mut() {
                    p.learn_record(record);
                }
                if let Some(addr) = record.addresses.iter().find(|a| !a.is_datagram()) {
                    self.routing.set_address(&record.node_id, addr);
                    for conn in self.routing.conns_of(&record.node_id) {
                        let _ = self.transport.associate(conn, addr.clone());
                    }
                }
            }
            RegistryChange::Remove { node_id, .. } => {
                self.routing.forget(node_id);
                if let Some(p) = self.datagrams.as_mut() {
                    p.forget(node_id);
                }
            }
            _ => {}
        }
        let added = crate::membership::apply_change(&self.registry, &self.me, &change);
        if let (true, RegistryChange::Upsert(record)) = (added, &change) {
            let id = &record.node_id;
            let open = self
                .routing
                .conns
                .values()
                .any(|c| c.open && c.peer.as_ref() == Some(id));
            if open {
                self.set_connection_state(id, ConnectionState::Connected);
            }
        }
    }
}

fn log_event(me: &NodeId, ev: &MembershipEvent) {
    match ev {
        MembershipEvent::Suspected { node_id } => log::info!("{me}: suspects {node_id}"),
        MembershipEvent::Refuted { incarnation } => {
            log::info!("{me}: refuted a suspicion (incarnation {incarnation})")
        }
        MembershipEvent::RecordRefused {
            node_id,
            from,
            reason,
        } => log::warn!("{me}: refused a record of {node_id} sent by {from}: {reason}"),
        other => log::debug!("{me}: {other:?}"),
    }
}
