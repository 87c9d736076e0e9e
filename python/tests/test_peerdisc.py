"""Tests of the ctypes binding (python/peerdisc)."""

import gc
import json
import threading
import time
import weakref

import pytest

import peerdisc
from peerdisc import (
    CapabilityKind,
    ConnectionState,
    Liveness,
    PeerdiscError,
    Registry,
    Status,
    UpsertOutcome,
)


def peer(node_id, tool="search"):
    return {
        "node_id": node_id,
        "addresses": ["ws://10.0.0.1:8000"],
        "capabilities": {"tools": [tool]},
    }


def wait_until(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def test_versions_and_abi():
    assert peerdisc.abi_version() == peerdisc.ABI_VERSION
    assert peerdisc.version().count(".") == 2
    assert peerdisc.library_path()


def test_all_names_exist():
    assert "Node" in peerdisc.__all__
    for name in peerdisc.__all__:
        assert hasattr(peerdisc, name), name


def test_abi_check_refuses_a_mismatch():
    with pytest.raises(ImportError, match="ABI version 1 does not match"):
        peerdisc._check_abi(1, 2, "libpeerdisc.so")
    peerdisc._check_abi(1, 1, "libpeerdisc.so")  # equal: no error


def test_loading_with_another_abi_version_raises_import_error():
    """Runs the module's source afresh, as an import would, with its expected
    ABI version changed: the load-time check must refuse the library."""
    import types
    from pathlib import Path

    path = Path(peerdisc.__file__)
    source = path.read_text()
    line = f"ABI_VERSION = {peerdisc.ABI_VERSION}\n"
    assert source.count(line) == 1
    wrong = peerdisc.ABI_VERSION + 1
    patched = source.replace(line, f"ABI_VERSION = {wrong}\n")
    module = types.ModuleType("peerdisc_wrong_abi")
    module.__file__ = str(path)
    with pytest.raises(ImportError) as err:
        exec(compile(patched, str(path), "exec"), module.__dict__)
    assert f"ABI version {peerdisc.ABI_VERSION} does not match" in str(err.value)
    assert f"module's ABI version {wrong}" in str(err.value)


def test_every_header_function_has_a_signature():
    import re
    from pathlib import Path

    header = Path(__file__).resolve().parents[2] / "include" / "peerdisc.h"
    declared = set(re.findall(r"^[a-z0-9_ ]+[ *]+(peerdisc_\w+)\(", header.read_text(), re.M))
    assert len(declared) >= 27
    assert declared == set(peerdisc._SIGNATURES)
    for name in declared:
        f = getattr(peerdisc._lib, name)
        assert f.argtypes is not None, name


def test_roundtrip():
    with Registry({"capacity": 100, "dead_retention_ms": 0}) as reg:
        reg.add(peer("a"))
        reg.add(json.dumps(peer("b", "calc")))
        assert reg.upsert({"node_id": "c", "version": 1}) == UpsertOutcome.ADDED
        assert reg.upsert({"node_id": "c", "version": 2}) == UpsertOutcome.UPDATED
        assert reg.upsert({"node_id": "c", "version": 2}) == UpsertOutcome.IGNORED
        assert len(reg) == 3
        assert "a" in reg and "zz" not in reg
        assert reg.peer_health("a") == 0.5
        assert reg.get("a")["capabilities"]["tools"] == ["search"]
        assert [p["node_id"] for p in reg.find_by_capability("tools", "search")] == ["a"]
        assert reg.find_by_capability(CapabilityKind.TOOL, "calc")[0]["node_id"] == "b"
        assert [p["node_id"] for p in reg.list({"limit": 2})] == ["a", "b"]
        reg.set_connection_state("a", ConnectionState.CONNECTED)
        assert [p["node_id"] for p in reg.list({"connection_state": "connected"})] == ["a"]
        assert reg.remove("b")["node_id"] == "b"
        reg.set_liveness("c", Liveness.DEAD)
        assert reg.cleanup() == ["c"]
        st = reg.stats()
        assert st["total"] == 1 and st["capacity"] == 100


def test_errors_carry_status_and_message():
    with Registry() as reg:
        reg.add(peer("a"))
        with pytest.raises(PeerdiscError) as e:
            reg.add(peer("a"))
        assert e.value.status == Status.ERR_ALREADY_EXISTS
        assert "already" in e.value.message
        with pytest.raises(PeerdiscError) as e:
            reg.get("missing")
        assert e.value.status == Status.ERR_NOT_FOUND and "missing" in e.value.message
        with pytest.raises(PeerdiscError) as e:
            reg.add("{not json")
        assert e.value.status == Status.ERR_INVALID_JSON
        with pytest.raises(PeerdiscError) as e:
            reg.get(b"\xff\xfe")
        assert e.value.status == Status.ERR_INVALID_UTF8
        with pytest.raises(PeerdiscError) as e:
            reg.add("{" + " " * (2 << 20) + "}")
        assert e.value.status == Status.ERR_TOO_LARGE
        with pytest.raises(PeerdiscError) as e:
            reg.find_by_capability(99, "x")
        assert e.value.status == Status.ERR_INVALID_ARGUMENT
    with pytest.raises(PeerdiscError) as e:
        Registry({"capacity": 0})
    assert e.value.status == Status.ERR_INVALID_ARGUMENT


def test_use_after_close_and_close_twice():
    reg = Registry()
    reg.close()
    reg.close()
    assert reg.closed
    with pytest.raises(PeerdiscError) as e:
        len(reg)
    assert e.value.status == Status.ERR_INVALID_STATE


def test_subscription_iterator():
    reg = Registry()
    sub = reg.subscribe()
    assert sub.next_event(0) is None
    reg.add(peer("a"))
    reg.remove("a")
    assert [e["type"] for e in sub.events(timeout=0.05)] == ["added", "removed"]
    reg.add(peer("b"))
    reg.close()
    # Queued events survive the registry; then the stream ends.
    assert [e["type"] for e in sub] == ["added"]
    with pytest.raises(PeerdiscError) as e:
        sub.next_event(0)
    assert e.value.status == Status.CLOSED
    sub.close()


def test_callback_events_and_finalizer():
    seen, finalized = [], []
    with Registry() as reg:
        cid = reg.on_event(seen.append, lambda: finalized.append(1))
        reg.add(peer("a"))
        assert wait_until(lambda: len(seen) == 1)
        assert seen[0]["type"] == "added" and seen[0]["peer"]["node_id"] == "a"
        reg.remove_callback(cid)
        assert finalized == [1]
        with pytest.raises(PeerdiscError) as e:
            reg.remove_callback(cid)
        assert e.value.status == Status.ERR_NOT_FOUND
        reg.add(peer("b"))
        time.sleep(0.05)
        assert len(seen) == 1
    assert finalized == [1]


def test_callbacks_are_kept_alive_and_released():
    class Counter:
        def __init__(self):
            self.n = 0

        def __call__(self, ev):
            self.n += 1

    before = peerdisc.registered_callbacks()
    reg = Registry()
    c = Counter()
    ref = weakref.ref(c)
    reg.on_event(c)
    del c
    gc.collect()
    assert ref() is not None  # kept alive while registered
    reg.add(peer("a"))
    assert wait_until(lambda: ref() is not None and ref().n == 1)
    assert peerdisc.registered_callbacks() == before + 1
    reg.close()
    gc.collect()
    assert ref() is None  # released after the finalizer
    assert peerdisc.registered_callbacks() == before


def test_registry_collected_with_callbacks():
    finalized = []
    reg = Registry()
    reg.on_event(lambda ev: None, lambda: finalized.append(1))
    del reg
    gc.collect()
    assert finalized == [1]


def test_callback_reenters_the_library():
    lens = []
    with Registry() as reg:
        reg.on_event(lambda ev: lens.append(len(reg)))
        reg.add(peer("a"))
        reg.add(peer("b"))
        assert wait_until(lambda: len(lens) == 2)
        assert lens == [1, 2] or lens == [2, 2]


def test_close_from_inside_own_callback():
    calls, finalized = [], []
    reg = Registry()

    def cb(ev):
        calls.append(ev["type"])
        reg.close()

    reg.on_event(cb, lambda: finalized.append(1))
    for i in range(5):
        try:
            reg.add(peer(f"p{i}"))
        except PeerdiscError as e:
            # The callback may already have closed it: use after close is
            # refused, never undefined behaviour.
            assert e.status == Status.ERR_INVALID_STATE
            break
    assert wait_until(lambda: finalized == [1])
    time.sleep(0.05)
    assert calls == ["added"]
    assert reg.closed


def test_callback_while_another_thread_closes():
    state = {"in": threading.Event(), "returned": False, "late": 0, "closed": False}
    finalized = []
    reg = Registry()

    def cb(ev):
        if state["closed"]:
            state["late"] += 1
        state["in"].set()
        time.sleep(0.1)
        state["returned"] = True

    reg.on_event(cb, lambda: finalized.append(1))
    for i in range(10):
        reg.add(peer(f"p{i}"))
    assert state["in"].wait(5)
    reg.close()
    state["closed"] = True
    assert state["returned"] and finalized == [1]
    time.sleep(0.2)
    assert state["late"] == 0


def test_threads_share_a_registry():
    errors = []
    with Registry() as reg:
        def work(base):
            try:
                for i in range(100):
                    reg.add(peer(f"t{base}-{i}"))
                    assert f"t{base}-{i}" in reg
                    reg.list({"limit": 5})
            except Exception as e:  # pragma: no cover
                errors.append(e)

        threads = [threading.Thread(target=work, args=(b,)) for b in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(reg) == 400


def test_exception_in_callback_does_not_break_delivery(capsys):
    seen = []

    def cb(ev):
        seen.append(ev)
        raise RuntimeError("boom in callback")

    with Registry() as reg:
        reg.on_event(cb)
        reg.add(peer("a"))
        reg.add(peer("b"))
        assert wait_until(lambda: len(seen) == 2)
