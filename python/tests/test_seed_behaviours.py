"""The earlier Python (seed) system's 18 behaviours (its
tests/test_discovery.py: peer, registry, bootstrap, gossip, unified
discovery), as a migrating user calls them from Python. Each test names the
seed behaviour it covers."""

import socket
import threading
import time

import pytest

from peerdisc import (
    ConnectionState,
    GossipDiscovery,
    Liveness,
    Node,
    PeerdiscError,
    Registry,
    Status,
    UpsertOutcome,
)

# The seed's Peer(node_id, address, agents).
SEED_PEER = {
    "node_id": "node_abc123",
    "address": "ws://192.168.1.100:8000",
    "agents": ["agent1", "agent2"],
    "tools": ["search"],
}


def eventually(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# 1. Peer creation
def test_peer_creation():
    with Registry() as reg:
        reg.add(SEED_PEER)
        p = reg.get("node_abc123")
    assert p["node_id"] == "node_abc123"
    # No path: the default path.
    assert p["addresses"] == ["ws://192.168.1.100:8000/peerdisc"]
    assert p["capabilities"]["agents"] == ["agent1", "agent2"]
    assert p["health"]["score"] == 0.5
    assert p["liveness"] == "alive" and p["connection_state"] == "disconnected"


# 2. Peer serialization (to_dict / from_dict)
def test_peer_serialization():
    with Registry() as a, Registry() as b:
        a.add({**SEED_PEER, "last_seen": 1764000005.0, "first_seen": 1764000000.0,
               "successful_connections": 3, "failed_connections": 1, "health_score": 0.7,
               "connection_state": "connected"})
        p = a.get("node_abc123")
        assert p["first_seen_ms"] == 1764000000000 and p["last_seen_ms"] == 1764000005000
        assert p["health"]["successes"] == 3 and p["health"]["score"] == 0.7
        assert p["connection_state"] == "connected"
        # peerdisc's own dict round-trips through another registry.
        b.add(p)
        assert b.get("node_abc123") == p
        with pytest.raises(PeerdiscError) as e:
            a.add({"node_id": "x", "address": "ws://h:1", "colour": 1})
        assert e.value.status == Status.ERR_INVALID_JSON


# 3. Peer activity tracking (update_activity / last_seen)
def test_peer_activity_tracking():
    with Registry() as reg:
        reg.add(SEED_PEER)
        before = reg.get("node_abc123")["last_seen_ms"]
        assert abs(before - time.time() * 1000) < 60_000, "add stamps last seen"
        time.sleep(0.01)
        reg.touch("node_abc123")
        assert reg.get("node_abc123")["last_seen_ms"] > before
        with pytest.raises(PeerdiscError) as e:
            reg.touch("nobody")
        assert e.value.status == Status.ERR_NOT_FOUND


# 4. Peer health tracking (record_success / record_failure / health_score)
def test_peer_health_tracking():
    with Registry() as reg:
        reg.add(SEED_PEER)
        up = reg.record_success("node_abc123")
        down1 = reg.record_failure("node_abc123")
        down2 = reg.record_failure("node_abc123")
        assert down2 < down1 < up and up > 0.5
        h = reg.get("node_abc123")["health"]
        assert (h["successes"], h["failures"], h["consecutive_failures"]) == (1, 2, 2)
        assert reg.peer_health("node_abc123") == h["score"]
        with pytest.raises(PeerdiscError) as e:
            reg.record_success("bad id")
        assert e.value.status == Status.ERR_INVALID_ARGUMENT


# 5. Registry add / get (add_peer / get_peer)
def test_registry_add_and_get_peer():
    with Registry() as reg:
        reg.add(SEED_PEER)
        with pytest.raises(PeerdiscError) as e:
            reg.add(SEED_PEER)
        assert e.value.status == Status.ERR_ALREADY_EXISTS
        assert reg.get("node_abc123")["capabilities"]["tools"] == ["search"]
        with pytest.raises(PeerdiscError) as e:
            reg.get("node_unknown")
        assert e.value.status == Status.ERR_NOT_FOUND
        # upsert takes the seed dict too (version 0).
        assert reg.upsert({"node_id": "n2", "address": "ws://10.0.0.2:8000"}) == UpsertOutcome.ADDED
        assert len(reg) == 2 and "n2" in reg


# 6. Registry remove (remove_peer)
def test_registry_remove_peer():
    with Registry() as reg:
        reg.add(SEED_PEER)
        last = reg.remove("node_abc123")
        assert last["node_id"] == "node_abc123"
        assert "node_abc123" not in reg
        with pytest.raises(PeerdiscError) as e:
            reg.remove("node_abc123")
        assert e.value.status == Status.ERR_NOT_FOUND


# 7. Registry update (update_peer)
def test_registry_update_peer():
    with Registry() as reg:
        reg.add(SEED_PEER)
        p = reg.update("node_abc123", tools=["translate"], metadata={"region": "eu"})
        assert p["version"] == 1, "the edit raised the version"
        assert p["capabilities"]["tools"] == ["translate"]
        assert p["capabilities"]["agents"] == ["agent1", "agent2"], "other kinds kept"
        # The old record arriving again does not undo the edit.
        assert reg.upsert(SEED_PEER) == UpsertOutcome.IGNORED
        assert reg.get("node_abc123")["capabilities"]["tools"] == ["translate"]
        p = reg.update("node_abc123", {"address": "ws://10.0.0.3:8000"}, liveness=Liveness.SUSPECT)
        assert p["addresses"] == ["ws://10.0.0.3:8000/peerdisc"] and p["version"] == 2
        assert p["liveness"] == "suspect"
        with pytest.raises(PeerdiscError) as e:
            reg.update("node_abc123", colour="red")
        assert e.value.status == Status.ERR_INVALID_JSON
        assert reg.get("node_abc123")["version"] == 2


# 8. Alive peers (list_alive_peers)
def test_registry_list_alive_peers():
    with Registry() as reg:
        for n in "abc":
            reg.add({"node_id": n})
        reg.set_liveness("b", Liveness.DEAD)
        reg.set_liveness("c", Liveness.SUSPECT)
        assert [p["node_id"] for p in reg.list_alive()] == ["a", "c"]


# 9. Connected peers (list_connected_peers)
def test_registry_list_connected_peers():
    with Registry() as reg:
        for n in "abc":
            reg.add({"node_id": n})
        reg.set_connection_state("c", ConnectionState.CONNECTED)
        reg.update("a", connection_state="connecting")
        assert [p["node_id"] for p in reg.list_connected()] == ["c"]


# 10. Dead peer cleanup (cleanup_dead_peers)
def test_dead_peer_cleanup():
    with Registry({"stale_after_ms": 200, "dead_retention_ms": 0}) as reg:
        reg.add({"node_id": "quiet"})
        reg.add({"node_id": "chatty"})
        end = time.monotonic() + 5
        removed = []
        while time.monotonic() < end and "quiet" not in removed:
            reg.touch("chatty")
            removed += reg.cleanup()
            time.sleep(0.05)
        assert removed == ["quiet"]
        assert "chatty" in reg and "quiet" not in reg


# 11. A peer added a moment ago is not dead at the first cleanup
def test_fresh_peer_survives_cleanup():
    with Registry({"stale_after_ms": 60_000}) as reg:
        reg.add(SEED_PEER)  # no times: stamped now
        p = reg.get("node_abc123")
        assert p["first_seen_ms"] > 0 and p["last_seen_ms"] >= p["first_seen_ms"]
        assert reg.cleanup() == []
        assert reg.get("node_abc123")["liveness"] == "alive"
        # A seed dict last seen long ago is stale at once.
        reg.add({"node_id": "old", "address": "ws://10.0.0.4:8000", "last_seen": 1000.0})
        reg.cleanup()
        assert reg.get("old")["liveness"] == "dead"


# 12. Statistics (get_peer_stats)
def test_registry_stats():
    with Registry() as reg:
        for n in "abc":
            reg.add({"node_id": n})
        reg.set_liveness("a", Liveness.DEAD)
        reg.set_connection_state("b", ConnectionState.CONNECTED)
        s = reg.stats()
        assert (s["total"], s["alive"], s["dead"], s["connected"]) == (3, 2, 1, 1)
        assert abs(s["average_health"] - 0.5) < 1e-9


# 13. Event callbacks (on_add, on_remove, on_update)
def test_registry_callbacks():
    seen = []
    lock = threading.Lock()

    def note(kind):
        def cb(peer):
            with lock:
                seen.append((kind, peer["node_id"]))

        return cb

    with Registry() as reg:
        reg.on_add(note("add"))
        reg.on_update(note("update"))
        reg.on_remove(note("remove"))
        reg.add(SEED_PEER)
        reg.record_success("node_abc123")
        reg.set_liveness("node_abc123", Liveness.SUSPECT)
        reg.remove("node_abc123")
        assert eventually(lambda: len(seen) == 4, 5)
    assert seen == [
        ("add", "node_abc123"),
        ("update", "node_abc123"),
        ("update", "node_abc123"),
        ("remove", "node_abc123"),
    ]


def bare_url(address):
    # ws://127.0.0.1:PORT/peerdisc -> ws://127.0.0.1:PORT (the seed's form)
    return address.rsplit("/", 1)[0]


# 14. Bootstrap discovery, with the seed's URL form (no path)
def test_bootstrap_discovery():
    seed = Node({"node_id": "py-boot-seed"})
    other = Node({"node_id": "py-boot-other", "bootstrap": [seed.address]})
    reg = Registry()
    joiner = None
    try:
        assert other.wait_for_peers(1, timeout=10) == 1
        joiner = Node({"node_id": "py-boot-joiner", "bootstrap": [bare_url(seed.address)]}, registry=reg)
        report = joiner.discover_bootstrap()
        assert report["errors"] == []
        assert "py-boot-other" in report["peers"]
        assert joiner.wait_for_peers(2, timeout=10) == 2
        # The application's registry is the node's.
        assert "py-boot-seed" in reg and "py-boot-other" in reg
        assert joiner.registry is reg
        assert eventually(
            lambda: {p["node_id"] for p in other.registry.list_alive()} == {"py-boot-seed", "py-boot-joiner"}
        )
    finally:
        for n in (joiner, other, seed):
            if n is not None:
                n.close()
        reg.close()


# 15. An unusable bootstrap node is reported with its reason
def test_bootstrap_unusable_node_reported():
    refused = f"ws://127.0.0.1:{free_port()}"
    with Node({"node_id": "py-unusable-seed"}) as seed:
        wrong_path = bare_url(seed.address) + "/not-here"
        with Node({"node_id": "py-unusable", "bootstrap": [refused, wrong_path],
                   "bootstrap_timeout_ms": 2000}) as n:
            with pytest.raises(PeerdiscError) as e:
                n.discover_bootstrap()
            assert e.value.status == Status.ERR_NETWORK
            msg = e.value.message
            assert refused + "/peerdisc" in msg and "refused" in msg, msg
            assert wrong_path in msg and "404" in msg, msg


class Bus:
    """An in-memory transport: send_fn queues, pump delivers."""

    def __init__(self):
        self.nodes = {}
        self.queue = []
        self.lock = threading.Lock()
        self.sent = []

    def sender(self, me):
        def send(to, msg):
            with self.lock:
                self.queue.append((me, to, msg))
                self.sent.append((me, to, msg))

        return send

    def pump(self, until, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                batch, self.queue = self.queue, []
            for frm, to, msg in batch:
                if to in self.nodes:
                    self.nodes[to].handle_announcement(msg, frm)
            if until():
                return True
            time.sleep(0.01)
        return until()


# 16. Gossip: a received announcement updates the registry
def test_gossip_handle_announcement():
    announcement = {
        "type": "gossip_announcement",
        "timestamp": time.time(),
        "peers": [
            {"node_id": "node_xyz", "address": "ws://10.0.0.7:8000", "tools": ["ocr"]},
            {"node_id": "node_new", "address": "ws://10.0.0.8:8000", "agents": ["a"], "reputation": 3},
        ],
    }
    # Without announce_interval (not seed-compatible), the unknown field is refused.
    with Registry() as strict, GossipDiscovery(strict, node_id="me") as g:
        with pytest.raises(PeerdiscError) as e:
            g.handle_announcement(announcement, "node_xyz")
        assert e.value.status == Status.ERR_INVALID_JSON
        assert len(strict) == 0
    with Registry() as reg, GossipDiscovery(reg, node_id="me", announce_interval=60.0) as g:
        g.handle_announcement(announcement, sender_node_id="node_xyz")
        assert [p["node_id"] for p in reg.find_by_capability("tool", "ocr")] == ["node_xyz"]
        assert reg.get("node_new")["addresses"] == ["ws://10.0.0.8:8000/peerdisc"]


# 17. Gossip: start(send_fn) announces periodically; three nodes converge
def test_gossip_periodic_announcements():
    bus = Bus()
    with Registry() as reg:
        with GossipDiscovery(reg, node_id="me", announce_interval=0.2, capabilities={"tools": ["t"]}) as g:
            g.start(bus.sender("me"))
            # An earlier-system peer announces itself; it hears us from then on.
            g.handle_announcement(
                {"type": "gossip_announcement", "timestamp": time.time(),
                 "peers": [{"node_id": "old", "address": "ws://10.0.0.9:8000"}]},
                "old",
            )

            def seed_shaped():
                with bus.lock:
                    return [m for frm, to, m in bus.sent
                            if to == "old" and m["type"] == "gossip_announcement" and "states" not in m]

            assert eventually(lambda: len(seed_shaped()) >= 2, 10)
            a = seed_shaped()[0]
            assert a["peers"][0]["node_id"] == "me"
            assert a["peers"][0]["tools"] == ["t"] and "addresses" not in a["peers"][0]
            assert abs(a["timestamp"] - time.time()) < 60, "Unix seconds"

    regs = {n: Registry() for n in ("g1", "g2", "g3")}
    bus = Bus()
    try:
        for n, r in regs.items():
            bus.nodes[n] = GossipDiscovery(r, node_id=n)
        bus.nodes["g1"].start(bus.sender("g1"))
        bus.nodes["g2"].start(bus.sender("g2"), seeds=["g1"])
        bus.nodes["g3"].start(bus.sender("g3"), seeds=["g1"])
        assert bus.pump(lambda: all(len(r.list_alive()) == 2 for r in regs.values()))
        members = bus.nodes["g1"].members()
        assert [m["node_id"] for m in members] == ["g2", "g3"]
        assert all(m["liveness"] == "alive" for m in members)
    finally:
        for g in bus.nodes.values():
            g.close()
        for r in regs.values():
            r.close()


# 18. Unified discovery: one registry fed by bootstrap (a Node) and by gossip
# over the application's transport (GossipDiscovery)
def test_unified_discovery():
    reg = Registry()
    added = []
    reg.on_add(lambda p: added.append(p["node_id"]))
    seed = Node({"node_id": "py-uni-seed", "capabilities": {"tools": ["search"]}})
    node = Node({"node_id": "py-uni", "bootstrap": [bare_url(seed.address)]}, registry=reg)
    gossip = GossipDiscovery(reg, node_id="py-uni-app", announce_interval=60.0)
    try:
        assert node.wait_for_peers(1, timeout=10) == 1
        gossip.handle_announcement(
            {
                "type": "gossip_announcement",
                "timestamp": time.time(),
                "peers": [{"node_id": "py-uni-legacy", "address": "ws://10.0.0.10:8000", "agents": ["old-agent"]}],
            },
            "py-uni-legacy",
        )
        assert {p["node_id"] for p in reg.list_alive()} >= {"py-uni-seed", "py-uni-legacy"}
        assert [p["node_id"] for p in reg.find_by_capability("agent", "old-agent")] == ["py-uni-legacy"]
        assert [p["node_id"] for p in node.find_by_capability("tool", "search")] == ["py-uni-seed"]
        assert eventually(lambda: {"py-uni-seed", "py-uni-legacy"} <= set(added), 5)
    finally:
        gossip.close()
        node.close()
        seed.close()
        reg.close()
