"""A small Python script using peerdisc through the python/peerdisc package (ctypes).

Run from the repository root after `cargo build`:
    python3 examples/ffi_example.py
(or set PEERDISC_LIB to the library's path).
"""

import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

import peerdisc  # noqa: E402
from peerdisc import PeerdiscError, Registry, Status  # noqa: E402


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
                "addresses": ["ws://192.168.1.100:8000"],
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
