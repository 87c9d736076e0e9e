"""A small Python script using peerdisc through its Python package (ctypes).

Install the package (it carries the library), then run it from anywhere:
    python3 -m venv venv && venv/bin/pip install ./python
    venv/bin/python examples/ffi_example.py
"""

import sys
import threading
import time

import peerdisc
from peerdisc import PeerdiscError, Registry, Status


def main() -> int:
    print(f"peerdisc {peerdisc.version()} (ABI {peerdisc.abi_version()})")
    seen = []
    done = threading.Event()
    with Registry({"capacity": 1000}) as reg:
        sub = reg.subscribe()
        reg.on_event(seen.append, on_finalize=done.set)
        reg.add(
            {
                "node_id": "node_abc123",
                "addresses": ["ws://127.0.0.1:8000"],
                "capabilities": {"agents": ["planner"], "tools": ["search"]},
            }
        )
        reg.upsert({"node_id": "node_def456", "version": 1,
                    "capabilities": {"tools": ["search"]}})
        print(len(reg), "peers")
        print("tool 'search':", [p["node_id"] for p in reg.find_by_capability("tool", "search")])
        try:
            reg.get("nobody")
        except PeerdiscError as e:
            assert e.status == Status.ERR_NOT_FOUND
            print("expected error:", e)
        for ev in sub.events(timeout=0.1):
            print("pulled:", ev["type"], ev["peer"]["node_id"])
        # Freeing the registry drops events not delivered yet: wait for ours.
        for _ in range(500):
            if len(seen) >= 2:
                break
            time.sleep(0.01)
        print("stats:", reg.stats())
    assert done.is_set(), "the finalizer has run when the registry is closed"
    print("callback saw", len(seen), "events")
    return 0 if len(seen) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())
