"""Tests of the Node class of the ctypes binding: two nodes on 127.0.0.1."""

import socket
import threading
import time

import pytest

from peerdisc import CapabilityKind, Node, PeerdiscError, Status


def pair():
    seed = Node({"node_id": "py-seed", "capabilities": {"tools": ["search"]}})
    joiner = Node(
        {
            "node_id": "py-joiner",
            "bootstrap": [seed.address],
            "capabilities": {"agents": ["planner"]},
        }
    )
    assert joiner.wait_for_peers(1, timeout=10) == 1
    assert seed.wait_for_peers(1, timeout=10) == 1
    return seed, joiner


def eventually(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def test_two_nodes_meet_and_query():
    seed, joiner = pair()
    with seed, joiner:
        assert joiner.node_id == "py-joiner"
        assert joiner.address.startswith("ws://127.0.0.1:")
        report = joiner.discover_bootstrap()
        assert "py-seed" in report["peers"] and report["errors"] == []
        found = joiner.find_by_capability(CapabilityKind.TOOL, "search")
        assert [p["node_id"] for p in found] == ["py-seed"]
        assert [p["node_id"] for p in seed.peers()] == ["py-joiner"]
        assert seed.stats()["node_id"] == "py-seed"


def test_capability_update_spreads_and_events_arrive():
    seed, joiner = pair()
    with seed, joiner:
        sub = seed.subscribe()
        got = []
        done = threading.Event()

        def on_event(ev):
            got.append(ev)
            if ev["type"] == "updated" and "capabilities" in ev.get("changes", []):
                done.set()

        cb = seed.on_event(on_event)
        joiner.update_capabilities({"tools": ["fresh"]})
        assert eventually(lambda: seed.find_by_capability("tool", "fresh"))
        assert done.wait(10)
        seed.remove_callback(cb)
        # Health updates keep coming, so read a bounded number of events.
        seen = False
        for _ in range(500):
            ev = sub.next_event(timeout=1.0)
            if ev is None:
                break
            if ev["type"] == "updated" and "capabilities" in ev.get("changes", []):
                seen = True
                break
        assert seen
        sub.close()


def test_stop_twice_and_use_after_stop():
    seed, joiner = pair()
    with seed, joiner:
        joiner.stop()
        joiner.stop()
        with pytest.raises(PeerdiscError) as e:
            joiner.update_capabilities({"tools": ["x"]})
        assert e.value.status == Status.ERR_INVALID_STATE
        with pytest.raises(PeerdiscError) as e:
            joiner.address
        assert e.value.status == Status.ERR_INVALID_STATE
        assert isinstance(joiner.peers(), list)


def test_bad_config_and_taken_port():
    with pytest.raises(PeerdiscError) as e:
        Node({"bogus": 1})
    assert e.value.status == Status.ERR_INVALID_JSON
    with pytest.raises(PeerdiscError) as e:
        Node({"bootstrap": ["http://x:1"]})
    assert e.value.status == Status.ERR_INVALID_ARGUMENT
    # The datagram section passes through unchanged.
    with pytest.raises(PeerdiscError) as e:
        Node({"datagram": {"max_bytes": 10}})
    assert e.value.status == Status.ERR_INVALID_ARGUMENT
    assert "datagram" in e.value.message
    with Node({"datagram": {"enabled": False}}) as plain:
        assert plain.stats()["datagrams_out"] == 0
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    with pytest.raises(PeerdiscError) as e:
        Node({"listen": f"127.0.0.1:{port}"})
    assert e.value.status == Status.ERR_NETWORK
    assert str(port) in e.value.message
    holder.close()


def test_wait_for_peers_times_out():
    with Node() as lonely:
        with pytest.raises(PeerdiscError) as e:
            lonely.wait_for_peers(1, timeout=0.2)
        assert e.value.status == Status.TIMEOUT


def test_close_from_inside_a_callback():
    seed, joiner = pair()
    closed = threading.Event()

    def close_self(_ev):
        joiner.close()
        closed.set()

    joiner.on_event(close_self)
    seed.update_capabilities({"tools": ["poke"]})
    assert closed.wait(10)
    assert joiner.closed
    seed.close()
