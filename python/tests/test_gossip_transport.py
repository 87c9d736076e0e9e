"""Three processes' worth of gossip over an in-memory transport written in
Python: each node is a GossipDiscovery with its own Registry; the transport
is a queue drained by the test thread."""

import collections
import threading
import time

import pytest

from peerdisc import GossipDiscovery, PeerdiscError, Registry, Status


class MemoryTransport:
    """Delivers messages between GossipDiscovery objects by node id; a node
    can be cut off (its messages, both ways, are dropped)."""

    def __init__(self):
        self.nodes = {}
        self.queue = collections.deque()
        self.lock = threading.Lock()
        self.cut = set()
        self.delivered = 0

    def sender(self, me):
        def send(to, msg):
            assert isinstance(msg, dict) and "type" in msg
            with self.lock:
                self.queue.append((me, to, msg))

        return send

    def pump(self, until, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                batch = list(self.queue)
                self.queue.clear()
            for frm, to, msg in batch:
                if frm in self.cut or to in self.cut or to not in self.nodes:
                    continue
                try:
                    self.nodes[to].handle_announcement(msg, frm)
                    self.delivered += 1
                except PeerdiscError as e:  # a closed node
                    assert e.status == Status.ERR_INVALID_STATE
            if until():
                return True
            time.sleep(0.01)
        return False


def alive_ids(reg):
    return sorted(p["node_id"] for p in reg.list({"liveness": ["alive"]}))


def test_three_nodes_gossip_over_a_python_transport():
    net = MemoryTransport()
    regs = {n: Registry() for n in ("a", "b", "c")}
    for n, reg in regs.items():
        net.nodes[n] = GossipDiscovery(
            reg, node_id=n, address=f"ws://10.0.0.{ord(n) - 96}:8000", capabilities={"tools": [f"tool-{n}"]}
        )
    # b and c know a (as the seed system's bootstrap list would give it).
    regs["b"].add({"node_id": "a", "address": "ws://10.0.0.1:8000"})
    regs["c"].add({"node_id": "a", "address": "ws://10.0.0.1:8000"})
    for n in ("a", "b", "c"):
        net.nodes[n].start(net.sender(n))
    try:
        assert net.pump(
            lambda: all(
                alive_ids(regs[n]) == sorted(set("abc") - {n}) for n in "abc"
            )
        ), {n: alive_ids(r) for n, r in regs.items()}
        # Records arrive whole: c learned b's tool from gossip, not by hand.
        assert [p["node_id"] for p in regs["c"].find_by_capability("tool", "tool-b")] == ["b"]
        assert regs["a"].get("c")["addresses"] == ["ws://10.0.0.3:8000/peerdisc"]
        assert net.delivered > 0

        # c crashes (no leave): a and b declare it dead.
        net.cut.add("c")
        assert net.pump(
            lambda: all(regs[n].get("c")["liveness"] == "dead" for n in "ab"), timeout=20
        ), [regs[n].get("c")["liveness"] for n in "ab"]

        # b leaves gracefully: a hears it.
        net.nodes["b"].stop()
        assert net.pump(lambda: regs["a"].get("b")["liveness"] == "left")
    finally:
        for g in net.nodes.values():
            g.close()
        for r in regs.values():
            r.close()


def test_seed_announcement_with_unix_timestamp_reaches_the_registry():
    reg = Registry()
    sent = []
    with GossipDiscovery(reg, node_id="me", announce_interval=0.05) as g:
        g.start(lambda to, msg: sent.append((to, msg)))
        g.handle_announcement(
            {
                "type": "gossip_announcement",
                "timestamp": time.time(),
                "peers": [
                    {"node_id": "old", "address": "ws://10.0.0.9:8000", "agents": ["a1"], "extra": 1}
                ],
            },
            "old",
        )
        assert reg.get("old")["capabilities"]["agents"] == ["a1"]
        end = time.monotonic() + 5
        while time.monotonic() < end and not any(
            m.get("type") == "gossip_announcement" and "v" not in m.get("peers", [{}])[0] for _, m in sent
        ):
            time.sleep(0.01)
        ann = [m for to, m in sent if m["type"] == "gossip_announcement"]
        assert ann, sent
        assert ann[-1]["peers"][0]["node_id"] == "me"
        assert abs(ann[-1]["timestamp"] - time.time()) < 60


def test_bad_arguments_are_typed_errors():
    reg = Registry()
    with pytest.raises(PeerdiscError) as e:
        GossipDiscovery(reg, node_id="bad id with spaces")
    assert e.value.status == Status.ERR_INVALID_ARGUMENT
    with GossipDiscovery(reg, node_id="ok") as g:
        with pytest.raises(PeerdiscError) as e:
            g.handle_announcement("{not json", "x")
        assert e.value.status == Status.ERR_INVALID_JSON
        with pytest.raises(PeerdiscError) as e:
            g.handle_announcement({"type": "ping", "v": 1, "seq": 1, "target": "ok"}, "bad id")
        assert e.value.status == Status.ERR_INVALID_ARGUMENT
    with pytest.raises(PeerdiscError) as e:
        g.tick()
    assert e.value.status == Status.ERR_INVALID_STATE
