"""Python bindings for peerdisc, over its C ABI with ctypes.

    from peerdisc import Registry

    with Registry({"capacity": 1000}) as reg:
        reg.add({"node_id": "a", "addresses": ["ws://127.0.0.1:8000"],
                 "capabilities": {"tools": ["search"]}})
        print(reg.find_by_capability("tool", "search"))

The shared library is looked up in this order: the ``PEERDISC_LIB``
environment variable (a path), the library installed inside this package
(``pip install ./python`` puts it there), ``target/release`` then
``target/debug`` of the source tree this file sits in, then the system's
library path (``ctypes.util.find_library("peerdisc")``). At load time the library's ABI
version must equal :data:`ABI_VERSION`, or ``ImportError`` is raised.

Errors are raised as :class:`PeerdiscError` with the status and the
library's message. Handles are context managers; :meth:`Registry.close` is
idempotent and also runs when the object is garbage-collected. Callbacks
registered with :meth:`Registry.on_event` are kept alive for as long as they
are registered and released once the library has finalized them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import itertools
import json
import os
import threading
import traceback
from ctypes import (
    POINTER,
    c_bool,
    c_char_p,
    c_double,
    c_int32,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, TypeVar, Union

__all__ = [
    "ABI_VERSION",
    "CapabilityKind",
    "ConnectionState",
    "GossipDiscovery",
    "Liveness",
    "Node",
    "PeerdiscError",
    "Registry",
    "Status",
    "Subscription",
    "UpsertOutcome",
    "abi_version",
    "library_path",
    "version",
]

#: The ABI version this module speaks (``PEERDISC_ABI_VERSION``).
ABI_VERSION = 2


class Status(enum.IntEnum):
    """``peerdisc_status`` codes."""

    OK = 0
    ERR_NULL_ARGUMENT = -1
    ERR_INVALID_UTF8 = -2
    ERR_INVALID_JSON = -3
    ERR_INVALID_ARGUMENT = -4
    ERR_TOO_LARGE = -5
    ERR_NOT_FOUND = -6
    ERR_ALREADY_EXISTS = -7
    ERR_FULL = -8
    ERR_INVALID_STATE = -9
    ERR_PANIC = -10
    ERR_INTERNAL = -11
    ERR_NETWORK = -12
    TIMEOUT = 1
    CLOSED = 2


class CapabilityKind(enum.IntEnum):
    AGENT = 0
    TOOL = 1
    RESOURCE = 2
    PROMPT = 3


class Liveness(enum.IntEnum):
    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3


class ConnectionState(enum.IntEnum):
    DISCONNECTED = 0
    CONNECTING = 1
    CONNECTED = 2
    FAILED = 3


class UpsertOutcome(enum.IntEnum):
    ADDED = 0
    UPDATED = 1
    IGNORED = 2


class PeerdiscError(Exception):
    """A call failed. ``status`` is a :class:`Status` (or the raw int for a
    code this module does not know); ``message`` is the library's text."""

    def __init__(self, status: int, message: str) -> None:
        try:
            status = Status(status)
        except ValueError:
            pass
        self.status = status
        self.message = message
        name = status.name if isinstance(status, Status) else str(status)
        super().__init__(f"{name}: {message}")


# ---------------------------------------------------------------- loading


def _candidates() -> List[str]:
    env = os.environ.get("PEERDISC_LIB")
    if env:
        return [env]
    here = Path(__file__).resolve().parent
    names = ["libpeerdisc.so", "libpeerdisc.dylib", "peerdisc.dll"]
    # A library shipped inside the installed package comes first (the wheel
    # names it like an extension module: libpeerdisc.cpython-311-...so), then
    # the source tree's build (python/peerdisc/ -> the repository root).
    out = [str(here / n) for n in names]
    out += sorted(str(p) for p in here.glob("libpeerdisc.*.so"))
    root = here.parent.parent
    out += [str(root / "target" / p / n) for p in ("release", "debug") for n in names]
    found = ctypes.util.find_library("peerdisc")
    if found:
        out.append(found)
    out.append("libpeerdisc.so")
    return out


def _load() -> ctypes.CDLL:
    errors = []
    for c in _candidates():
        if os.sep in c and not os.path.exists(c):
            continue
        try:
            return ctypes.CDLL(c)
        except OSError as e:  # pragma: no cover - depends on the system
            errors.append(f"{c}: {e}")
    raise ImportError(
        "could not load the peerdisc library (install the package with "
        "`pip install ./python`, which carries it, build it with `cargo build`, "
        "or set PEERDISC_LIB to its path): " + "; ".join(errors)
    )


_lib = _load()

_EVENT_CB = ctypes.CFUNCTYPE(None, c_void_p, c_char_p)
_FINALIZER = ctypes.CFUNCTYPE(None, c_void_p)
_SEND_CB = ctypes.CFUNCTYPE(None, c_void_p, c_char_p, c_char_p)
_S = c_int32  # peerdisc_status
_P = c_void_p  # opaque handles
_OUT_STR = POINTER(c_void_p)  # char ** (kept as an address, freed by us)

_SIGNATURES = {
    "peerdisc_version": ([], c_char_p),
    "peerdisc_abi_version": ([], c_uint32),
    "peerdisc_status_str": ([c_int32], c_char_p),
    "peerdisc_last_error": ([], c_char_p),
    "peerdisc_last_error_status": ([], c_int32),
    "peerdisc_last_error_clear": ([], None),
    "peerdisc_string_free": ([c_void_p], None),
    "peerdisc_registry_new": ([c_char_p, POINTER(_P)], _S),
    "peerdisc_registry_free": ([_P], None),
    "peerdisc_registry_add": ([_P, c_char_p], _S),
    "peerdisc_registry_upsert": ([_P, c_char_p, POINTER(c_int32)], _S),
    "peerdisc_registry_get": ([_P, c_char_p, _OUT_STR], _S),
    "peerdisc_registry_contains": ([_P, c_char_p, POINTER(c_bool)], _S),
    "peerdisc_registry_len": ([_P, POINTER(c_size_t)], _S),
    "peerdisc_registry_peer_health": ([_P, c_char_p, POINTER(c_double)], _S),
    "peerdisc_registry_list": ([_P, c_char_p, _OUT_STR], _S),
    "peerdisc_registry_find_by_capability": ([_P, c_int32, c_char_p, _OUT_STR], _S),
    "peerdisc_registry_remove": ([_P, c_char_p, _OUT_STR], _S),
    "peerdisc_registry_set_liveness": ([_P, c_char_p, c_int32], _S),
    "peerdisc_registry_set_connection_state": ([_P, c_char_p, c_int32], _S),
    "peerdisc_registry_cleanup": ([_P, POINTER(c_size_t), _OUT_STR], _S),
    "peerdisc_registry_stats": ([_P, _OUT_STR], _S),
    "peerdisc_registry_on_event": (
        [_P, _EVENT_CB, c_void_p, _FINALIZER, POINTER(c_uint64)],
        _S,
    ),
    "peerdisc_registry_remove_callback": ([_P, c_uint64], _S),
    "peerdisc_registry_subscribe": ([_P, POINTER(_P)], _S),
    "peerdisc_registry_peer_liveness": ([_P, c_char_p, POINTER(c_int32)], _S),
    "peerdisc_registry_peer_connection_state": ([_P, c_char_p, POINTER(c_int32)], _S),
    "peerdisc_registry_peer_last_seen_ms": ([_P, c_char_p, POINTER(c_uint64)], _S),
    "peerdisc_registry_peer": ([_P, c_char_p, POINTER(_P)], _S),
    "peerdisc_peer_free": ([_P], None),
    "peerdisc_peer_address_count": ([_P, POINTER(c_size_t)], _S),
    "peerdisc_peer_address": ([_P, c_size_t, POINTER(c_char_p)], _S),
    "peerdisc_peer_capability_count": ([_P, c_int32, POINTER(c_size_t)], _S),
    "peerdisc_peer_capability": ([_P, c_int32, c_size_t, POINTER(c_char_p)], _S),
    "peerdisc_node_new": ([c_char_p, POINTER(_P)], _S),
    "peerdisc_node_start": ([_P], _S),
    "peerdisc_node_stop": ([_P], _S),
    "peerdisc_node_free": ([_P], None),
    "peerdisc_node_id": ([_P, _OUT_STR], _S),
    "peerdisc_node_address": ([_P, _OUT_STR], _S),
    "peerdisc_node_discover_bootstrap": ([_P, _OUT_STR], _S),
    "peerdisc_node_wait_for_peers": ([_P, c_uint32, c_int32, POINTER(c_uint32)], _S),
    "peerdisc_node_peers": ([_P, _OUT_STR], _S),
    "peerdisc_node_find_by_capability": ([_P, c_int32, c_char_p, _OUT_STR], _S),
    "peerdisc_node_update_capabilities": ([_P, c_char_p], _S),
    "peerdisc_node_stats": ([_P, _OUT_STR], _S),
    "peerdisc_node_on_event": (
        [_P, _EVENT_CB, c_void_p, _FINALIZER, POINTER(c_uint64)],
        _S,
    ),
    "peerdisc_node_remove_callback": ([_P, c_uint64], _S),
    "peerdisc_node_subscribe": ([_P, POINTER(_P)], _S),
    "peerdisc_registry_record_success": ([_P, c_char_p, POINTER(c_double)], _S),
    "peerdisc_registry_record_failure": ([_P, c_char_p, POINTER(c_double)], _S),
    "peerdisc_registry_touch": ([_P, c_char_p], _S),
    "peerdisc_registry_update": ([_P, c_char_p, c_char_p, _OUT_STR], _S),
    "peerdisc_node_new_with_registry": ([c_char_p, _P, POINTER(_P)], _S),
    "peerdisc_node_registry": ([_P, POINTER(_P)], _S),
    "peerdisc_gossip_new": ([_P, c_char_p, _SEND_CB, c_void_p, _FINALIZER, POINTER(_P)], _S),
    "peerdisc_gossip_handle": ([_P, c_char_p, c_char_p], _S),
    "peerdisc_gossip_tick": ([_P], _S),
    "peerdisc_gossip_join": ([_P, c_char_p], _S),
    "peerdisc_gossip_leave": ([_P], _S),
    "peerdisc_gossip_start": ([_P], _S),
    "peerdisc_gossip_stop": ([_P], _S),
    "peerdisc_gossip_members": ([_P, _OUT_STR], _S),
    "peerdisc_gossip_free": ([_P], None),
    "peerdisc_subscription_next_event": ([_P, c_int32, _OUT_STR], _S),
    "peerdisc_subscription_free": ([_P], None),
}

for _name, (_args, _res) in _SIGNATURES.items():
    _f = getattr(_lib, _name)
    _f.argtypes = _args
    _f.restype = _res


def _check_abi(library_abi: int, expected: int, name: str) -> None:
    """Raises ``ImportError`` unless the library's ABI version is ``expected``."""
    if library_abi != expected:
        raise ImportError(
            f"peerdisc library ABI version {library_abi} does not match "
            f"this module's ABI version {expected} (library {name})"
        )


_check_abi(_lib.peerdisc_abi_version(), ABI_VERSION, _lib._name)


def library_path() -> str:
    """The path of the loaded library."""
    return _lib._name


def version() -> str:
    """The library's version (``peerdisc_version()``)."""
    return _lib.peerdisc_version().decode()


def abi_version() -> int:
    """The library's ABI version (``peerdisc_abi_version()``)."""
    return int(_lib.peerdisc_abi_version())


def _check(status: int) -> int:
    if status != Status.OK:
        msg = _lib.peerdisc_last_error()
        raise PeerdiscError(status, msg.decode("utf-8", "replace") if msg else "")
    return status


def _take_string(ptr: c_void_p) -> str:
    try:
        return ctypes.string_at(ptr.value).decode()
    finally:
        _lib.peerdisc_string_free(ptr)


def _text(value: Union[str, bytes]) -> bytes:
    """str is encoded as UTF-8; bytes pass unchanged (so invalid UTF-8 can
    reach the library and be refused there)."""
    return value if isinstance(value, bytes) else value.encode()


def _json_arg(value: Any) -> Optional[bytes]:
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        return _text(value)
    return json.dumps(value).encode()


# ---------------------------------------------------------------- callbacks
#
# One static trampoline and one static finalizer for every callback: the
# user_data is a token into _CALLBACKS, so no ctypes thunk is ever freed
# while the library might call it. A callable stays in _CALLBACKS (alive)
# from registration until the library runs its finalizer.

_CALLBACKS: dict = {}
_CALLBACKS_LOCK = threading.Lock()
_TOKENS = itertools.count(1)


_IN_CALLBACK = threading.local()


def _trampoline(user_data: int, event_json: bytes) -> None:
    with _CALLBACKS_LOCK:
        entry = _CALLBACKS.get(user_data)
    if entry is None or not entry[2]:
        return
    _IN_CALLBACK.depth = getattr(_IN_CALLBACK, "depth", 0) + 1
    try:
        entry[0](json.loads(event_json))
    except BaseException:  # noqa: BLE001 - never unwind into C
        traceback.print_exc()
    finally:
        _IN_CALLBACK.depth -= 1


def _finalize(user_data: int) -> None:
    with _CALLBACKS_LOCK:
        entry = _CALLBACKS.pop(user_data, None)
    if entry is not None and entry[1] is not None:
        try:
            entry[1]()
        except BaseException:  # noqa: BLE001
            traceback.print_exc()


_TRAMPOLINE = _EVENT_CB(_trampoline)
_FINALIZE = _FINALIZER(_finalize)


def registered_callbacks() -> int:
    """How many Python callbacks the library still holds (for tests)."""
    with _CALLBACKS_LOCK:
        return len(_CALLBACKS)


# ---------------------------------------------------------------- handles


_H = TypeVar("_H", bound="_Handle")


class _Handle:
    """An owned C handle: calls hold it in use; close waits for calls on
    other threads and frees it once."""

    _free = None  # the C free function
    _ptr = None
    _cv = None

    def __init__(self, ptr: c_void_p) -> None:
        self._ptr = ptr
        self._cv = threading.Condition()
        self._active = 0
        self._local = threading.local()
        self._pending_free = None

    def _enter(self) -> c_void_p:
        with self._cv:
            if self._ptr is None:
                raise PeerdiscError(
                    Status.ERR_INVALID_STATE, f"this {type(self).__name__} is closed"
                )
            self._active += 1
        self._local.depth = getattr(self._local, "depth", 0) + 1
        return self._ptr

    def _exit(self) -> None:
        self._local.depth -= 1
        with self._cv:
            self._active -= 1
            self._cv.notify_all()
            pending = self._pending_free if self._active == 0 else None
            if pending is not None:
                self._pending_free = None
        if pending is not None:
            type(self)._free(pending)

    def _call(self, fn, *args) -> int:
        ptr = self._enter()
        try:
            return _check(fn(ptr, *args))
        finally:
            self._exit()

    @property
    def closed(self) -> bool:
        return self._ptr is None

    def close(self) -> None:
        """Frees the handle (idempotent). No new call may start; calls in
        progress on other threads are waited for, except when closing from
        inside a library callback: then the last of them frees the handle
        (waiting there could deadlock with a call that waits for the
        callback)."""
        if self._cv is None:  # __init__ failed: nothing to free
            return
        with self._cv:
            ptr = self._ptr
            if ptr is None:
                return
            self._ptr = None
            own = getattr(self._local, "depth", 0)
            if self._active > own:
                if getattr(_IN_CALLBACK, "depth", 0) > 0:
                    self._pending_free = ptr
                    return
                while self._active > own:
                    self._cv.wait()
        type(self)._free(ptr)

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


class Subscription(_Handle):
    """Pulled events of a registry. Iterate over :meth:`events`, or call
    :meth:`next_event`. It may outlive its registry: queued events are still
    read, then the stream ends."""

    _free = _lib.peerdisc_subscription_free

    def next_event(self, timeout: Optional[float] = None) -> Optional[Dict[str, Any]]:
        """The next event as a dict; ``None`` if none came within
        ``timeout`` seconds (``None`` waits without limit). Raises
        :class:`PeerdiscError` with ``Status.CLOSED`` once the registry is
        gone and every event was read."""
        if timeout is None:
            while True:  # in slices, so that Ctrl-C works
                ev = self.next_event(0.2)
                if ev is not None:
                    return ev
        ms = max(0, min(int(timeout * 1000), 2**31 - 1))
        out = c_void_p()
        ptr = self._enter()
        try:
            st = _lib.peerdisc_subscription_next_event(ptr, ms, ctypes.byref(out))
            if st == Status.TIMEOUT:
                return None
            _check(st)
            return json.loads(_take_string(out))
        finally:
            self._exit()

    def events(self, timeout: Optional[float] = None) -> Iterator[Dict[str, Any]]:
        """Yields events until none comes within ``timeout`` seconds
        (``None``: until the registry is gone) or the stream is closed."""
        while True:
            try:
                ev = self.next_event(timeout)
            except PeerdiscError as e:
                if e.status == Status.CLOSED:
                    return
                raise
            if ev is None:
                return
            yield ev

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        return self.events(None)


class _EventSource(_Handle):
    """A handle with events: callbacks and subscriptions (shared by
    :class:`Registry` and :class:`Node`)."""

    _on_event_fn: Any = None
    _remove_callback_fn: Any = None
    _subscribe_fn: Any = None

    def close(self) -> None:
        """Frees the handle (idempotent). No callback of this handle is
        called once this returns, even when the C free is deferred (closing
        from inside a callback while another thread is in a call); each
        ``on_finalize`` runs once, after the last call."""
        with _CALLBACKS_LOCK:
            for token in getattr(self, "_tokens", ()):
                entry = _CALLBACKS.get(token)
                if entry is not None:
                    entry[2] = False
        super().close()

    def _string_call(self, fn, *args) -> str:
        out = c_void_p()
        self._call(fn, *args, ctypes.byref(out))
        return _take_string(out)

    def on_event(
        self,
        callback: Callable[[Dict[str, Any]], None],
        on_finalize: Optional[Callable[[], None]] = None,
    ) -> int:
        """Calls ``callback(event_dict)`` for every event, on the library's
        event thread. The callback may use this handle, and even close it.
        ``on_finalize()`` runs once after its last call. Exceptions in
        either are printed, never propagated into the library. Returns an
        id for :meth:`remove_callback`."""
        token = next(_TOKENS)
        with _CALLBACKS_LOCK:
            # [callable, finalizer, enabled]
            _CALLBACKS[token] = [callback, on_finalize, True]
            self._tokens.append(token)
        out = c_uint64()
        try:
            self._call(
                self._on_event_fn,
                _TRAMPOLINE,
                c_void_p(token),
                _FINALIZE,
                ctypes.byref(out),
            )
        except BaseException:
            # On failure the library never calls the finalizer.
            with _CALLBACKS_LOCK:
                _CALLBACKS.pop(token, None)
            raise
        return int(out.value)

    def remove_callback(self, callback_id: int) -> None:
        """Unregisters a callback; its finalizer has run when this returns
        (unless called from inside that callback)."""
        self._call(self._remove_callback_fn, c_uint64(callback_id))

    def subscribe(self) -> Subscription:
        out = c_void_p()
        self._call(self._subscribe_fn, ctypes.byref(out))
        return Subscription(out)


class Registry(_EventSource):
    """A thread-safe peer registry (``peerdisc_registry``).

    ``config``: ``None``, a dict or a JSON string with any of ``capacity``,
    ``dead_retention_ms``, ``stale_after_ms``, ``subscriber_capacity``.
    """

    _free = _lib.peerdisc_registry_free
    _on_event_fn = _lib.peerdisc_registry_on_event
    _remove_callback_fn = _lib.peerdisc_registry_remove_callback
    _subscribe_fn = _lib.peerdisc_registry_subscribe

    def __init__(self, config: Union[None, Dict[str, Any], str] = None) -> None:
        ptr = c_void_p()
        _check(_lib.peerdisc_registry_new(_json_arg(config), ctypes.byref(ptr)))
        super().__init__(ptr)
        self._tokens: list = []

    @classmethod
    def _adopt(cls, ptr: c_void_p) -> "Registry":
        """Wraps a registry handle made by the library."""
        reg = cls.__new__(cls)
        _Handle.__init__(reg, ptr)
        reg._tokens = []
        return reg

    def add(self, peer: Union[Dict[str, Any], str, bytes]) -> None:
        """Adds a peer: peer JSON, or the seed system's peer dict
        (``{"node_id", "address", "agents", "tools", "last_seen", ...}``;
        see README "Coming from the Python system" for the mapping). Times
        left out are stamped now."""
        self._call(_lib.peerdisc_registry_add, _json_arg(peer))

    def upsert(self, record: Union[Dict[str, Any], str, bytes]) -> UpsertOutcome:
        """Adds a record (record JSON, or the seed system's peer dict, which
        is version 0), or replaces the listed one if its version is
        higher."""
        out = c_int32()
        self._call(_lib.peerdisc_registry_upsert, _json_arg(record), ctypes.byref(out))
        return UpsertOutcome(out.value)

    def get(self, node_id: Union[str, bytes]) -> Dict[str, Any]:
        """The peer with this id; raises ``ERR_NOT_FOUND``."""
        return json.loads(self._string_call(_lib.peerdisc_registry_get, _text(node_id)))

    def __contains__(self, node_id: Union[str, bytes]) -> bool:
        out = c_bool()
        self._call(_lib.peerdisc_registry_contains, _text(node_id), ctypes.byref(out))
        return bool(out.value)

    def __len__(self) -> int:
        out = c_size_t()
        self._call(_lib.peerdisc_registry_len, ctypes.byref(out))
        return int(out.value)

    def peer_health(self, node_id: Union[str, bytes]) -> float:
        out = c_double()
        self._call(_lib.peerdisc_registry_peer_health, _text(node_id), ctypes.byref(out))
        return float(out.value)

    def list(self, filter: Union[None, Dict[str, Any], str] = None) -> List[Dict[str, Any]]:
        """Peers passing ``filter`` (``liveness``, ``connection_state``,
        ``min_health``, ``capability``, ``limit``), sorted by node id."""
        return json.loads(self._string_call(_lib.peerdisc_registry_list, _json_arg(filter)))

    def list_json(self, filter: Union[None, Dict[str, Any], str] = None) -> str:
        """Like :meth:`list`, as the JSON text."""
        return self._string_call(_lib.peerdisc_registry_list, _json_arg(filter))

    def find_by_capability(self, kind: Union[CapabilityKind, str, int], name: str) -> List[Dict[str, Any]]:
        if isinstance(kind, str):
            kind = CapabilityKind[kind.upper().rstrip("S")]
        return json.loads(
            self._string_call(
                _lib.peerdisc_registry_find_by_capability, int(kind), _text(name)
            )
        )

    def remove(self, node_id: Union[str, bytes]) -> Dict[str, Any]:
        """Removes a peer and returns its last state."""
        return json.loads(self._string_call(_lib.peerdisc_registry_remove, _text(node_id)))

    def set_liveness(self, node_id: str, liveness: Union[Liveness, int]) -> None:
        self._call(_lib.peerdisc_registry_set_liveness, _text(node_id), int(liveness))

    def set_connection_state(self, node_id: str, state: Union[ConnectionState, int]) -> None:
        self._call(_lib.peerdisc_registry_set_connection_state, _text(node_id), int(state))

    def cleanup(self) -> List[Dict[str, Any]]:
        """Housekeeping; returns the node ids removed."""
        n = c_size_t()
        return json.loads(
            self._string_call(_lib.peerdisc_registry_cleanup, ctypes.byref(n))
        )

    def stats(self) -> Dict[str, Any]:
        return json.loads(self._string_call(_lib.peerdisc_registry_stats))

    # ---- the seed system's registry calls

    def record_success(self, node_id: Union[str, bytes]) -> float:
        """A successful connection or probe of a listed peer: its health
        rises and it counts as heard from now. Returns the new score."""
        out = c_double()
        self._call(_lib.peerdisc_registry_record_success, _text(node_id), ctypes.byref(out))
        return float(out.value)

    def record_failure(self, node_id: Union[str, bytes]) -> float:
        """A failed connection or probe of a listed peer: its health falls.
        Returns the new score."""
        out = c_double()
        self._call(_lib.peerdisc_registry_record_failure, _text(node_id), ctypes.byref(out))
        return float(out.value)

    def touch(self, node_id: Union[str, bytes]) -> None:
        """Notes that a listed peer was heard from now (its last seen)."""
        self._call(_lib.peerdisc_registry_touch, _text(node_id))

    def update(self, node_id: Union[str, bytes], fields: Union[None, dict, str] = None, **kw) -> dict:
        """Edits a listed peer by field and returns it as it is now:
        ``update("a", tools=["search"], address="ws://10.0.0.2:8000")``.
        Fields: ``addresses`` or ``address``, ``public_key``,
        ``capabilities`` or any of ``agents``/``tools``/``resources``/
        ``prompts`` (each replacing that kind), ``metadata``, ``version``,
        ``connection_state``, ``liveness`` (names as in peer JSON). A record
        change raises the version by one unless ``version`` is given."""
        if fields is None:
            fields = {}
        elif isinstance(fields, (str, bytes)):
            fields = json.loads(fields)
        fields = {**fields, **kw}
        for key in ("connection_state", "liveness"):
            v = fields.get(key)
            if isinstance(v, enum.Enum):
                fields[key] = v.name.lower()
        return json.loads(
            self._string_call(_lib.peerdisc_registry_update, _text(node_id), _json_arg(fields))
        )

    def list_alive(self) -> list:
        """Peers alive or suspect, sorted by node id."""
        return self.list({"liveness": ["alive", "suspect"]})

    def list_connected(self) -> list:
        """Peers with an open connection, sorted by node id."""
        return self.list({"connection_state": "connected"})

    def _on_kinds(self, kinds: tuple, callback: Callable[[dict], None], on_finalize=None) -> int:
        def relay(event: dict) -> None:
            if event.get("type") in kinds:
                callback(event["peer"])

        return self.on_event(relay, on_finalize)

    def on_add(self, callback: Callable[[dict], None], on_finalize=None) -> int:
        """Calls ``callback(peer)`` for every peer added. Returns an id for
        :meth:`remove_callback`."""
        return self._on_kinds(("added",), callback, on_finalize)

    def on_remove(self, callback: Callable[[dict], None], on_finalize=None) -> int:
        """Calls ``callback(peer)`` (its last state) for every peer removed."""
        return self._on_kinds(("removed",), callback, on_finalize)

    def on_update(self, callback: Callable[[dict], None], on_finalize=None) -> int:
        """Calls ``callback(peer)`` for every change of a listed peer: its
        record or health (``updated``), its liveness or connection
        (``state_changed``)."""
        return self._on_kinds(("updated", "state_changed"), callback, on_finalize)


class Node(_EventSource):
    """A discovery node (``peerdisc_node``): listens on ``ws://``, reaches its
    bootstrap nodes, gossips and probes.

    ``config``: ``None``, a dict or a JSON string (``NodeConfig``: every
    field optional), e.g. ``{"listen": "127.0.0.1:0", "bootstrap":
    ["ws://127.0.0.1:7400/peerdisc"], "capabilities": {"tools": ["search"]}}``.
    The node starts at once unless ``start=False``. ``close()`` (or leaving a
    ``with`` block) stops it gracefully and frees it.
    """

    _free = _lib.peerdisc_node_free
    _on_event_fn = _lib.peerdisc_node_on_event
    _remove_callback_fn = _lib.peerdisc_node_remove_callback
    _subscribe_fn = _lib.peerdisc_node_subscribe

    def __init__(
        self,
        config: Union[None, Dict[str, Any], str] = None,
        start: bool = True,
        registry: Optional[Registry] = None,
    ) -> None:
        ptr = c_void_p()
        if registry is None:
            _check(_lib.peerdisc_node_new(_json_arg(config), ctypes.byref(ptr)))
        else:
            reg_ptr = registry._enter()
            try:
                _check(
                    _lib.peerdisc_node_new_with_registry(
                        _json_arg(config), reg_ptr, ctypes.byref(ptr)
                    )
                )
            finally:
                registry._exit()
        super().__init__(ptr)
        self._tokens: list = []
        self._registry = registry
        if start:
            try:
                self.start()
            except BaseException:
                self.close()
                raise

    @property
    def registry(self) -> Registry:
        """The registry of every peer this node knows: the one given as
        ``registry=``, or a handle on the node's own (it stays usable after
        the node is closed)."""
        if self._registry is None:
            out = c_void_p()
            self._call(_lib.peerdisc_node_registry, ctypes.byref(out))
            self._registry = Registry._adopt(out)
        return self._registry

    def start(self) -> None:
        """Binds the listener and starts the node (``ERR_NETWORK`` if the
        port is taken)."""
        self._call(_lib.peerdisc_node_start)

    def stop(self) -> None:
        """Leaves gracefully and stops every thread (idempotent)."""
        self._call(_lib.peerdisc_node_stop)

    @property
    def node_id(self) -> str:
        return self._string_call(_lib.peerdisc_node_id)

    @property
    def address(self) -> str:
        """The ``ws://`` address other nodes dial (``ERR_INVALID_STATE``
        when stopped)."""
        return self._string_call(_lib.peerdisc_node_address)

    def discover_bootstrap(self) -> Dict[str, Any]:
        """Asks the bootstrap nodes for their peers; blocks until they
        answered or timed out. Returns ``{"peers": [...], "errors": [...]}``;
        raises ``ERR_NETWORK`` when none answered."""
        return json.loads(self._string_call(_lib.peerdisc_node_discover_bootstrap))

    def wait_for_peers(self, n: int, timeout: Optional[float] = None) -> int:
        """Blocks until ``n`` peers are alive; returns how many are. Raises
        :class:`PeerdiscError` with ``TIMEOUT`` after ``timeout`` seconds."""
        ms = -1 if timeout is None else int(timeout * 1000)
        out = c_uint32()
        self._call(_lib.peerdisc_node_wait_for_peers, c_uint32(n), c_int32(ms), ctypes.byref(out))
        return int(out.value)

    def peers(self) -> List[Dict[str, Any]]:
        """The live peers, sorted by node id."""
        return json.loads(self._string_call(_lib.peerdisc_node_peers))

    def find_by_capability(self, kind: Union[CapabilityKind, str, int], name: str) -> List[Dict[str, Any]]:
        if isinstance(kind, str):
            kind = CapabilityKind[kind.upper().rstrip("S")]
        return json.loads(
            self._string_call(_lib.peerdisc_node_find_by_capability, int(kind), _text(name))
        )

    def update_capabilities(self, capabilities: Union[Dict[str, Any], str]) -> None:
        """Replaces this node's capabilities (``{"tools": [...], ...}``);
        the change spreads to every node."""
        self._call(_lib.peerdisc_node_update_capabilities, _json_arg(capabilities))

    def stats(self) -> Dict[str, Any]:
        return json.loads(self._string_call(_lib.peerdisc_node_stats))


# ---------------------------------------------------------------- gossip
#
# The send callback of every GossipDiscovery: user_data is a token into
# _SENDERS, whose entry holds the object's current send function (None
# until start()). The entry is dropped by the library's finalizer.

_SENDERS: dict = {}


def _send_trampoline(user_data: int, to_node_id: bytes, message_json: bytes) -> None:
    with _CALLBACKS_LOCK:
        entry = _SENDERS.get(user_data)
    fn = entry[0] if entry is not None else None
    if fn is None:
        return
    _IN_CALLBACK.depth = getattr(_IN_CALLBACK, "depth", 0) + 1
    try:
        fn(to_node_id.decode(), json.loads(message_json))
    except BaseException:  # noqa: BLE001 - never unwind into C
        traceback.print_exc()
    finally:
        _IN_CALLBACK.depth -= 1


def _send_finalize(user_data: int) -> None:
    with _CALLBACKS_LOCK:
        _SENDERS.pop(user_data, None)


_SEND_TRAMPOLINE = _SEND_CB(_send_trampoline)
_SEND_FINALIZE = _FINALIZER(_send_finalize)


class GossipDiscovery(_Handle):
    """Gossip over the application's own transport (the seed system's
    ``GossipDiscovery``), applying every change to ``registry``.

        gossip = GossipDiscovery(registry, node_id="node_a", announce_interval=60.0)
        gossip.start(lambda to, msg: transport.send(to, msg))
        ...  # for every message the transport receives:
        gossip.handle_announcement(msg, sender_node_id)
        gossip.stop()

    ``send_fn(to_node_id, message_dict)`` must deliver the message to that
    node (best effort); it is called from the thread that handed a message
    in, or from the object's timer thread, never under a library lock, so
    it may hand a message to another ``GossipDiscovery`` directly.
    ``announce_interval`` (seconds): when given, a seed-shaped
    announcement (this node and its live peers) goes to every member at
    that interval, and seed messages with extra fields are accepted (the
    seed-compatible mode). ``address``, ``capabilities``, ``metadata``
    describe this node; ``config`` is a ``MembershipConfig`` dict.
    ``node_id`` defaults to a random ``node_...`` id; it must be
    hand-picked: a key-derived ``pd1...`` id raises ``PeerdiscError``
    (``ERR_INVALID_ARGUMENT``), as this object holds no key to sign the
    node's refutations and leave with, and peers refuse them unsigned.
    """

    _free = _lib.peerdisc_gossip_free

    def __init__(
        self,
        registry: Registry,
        node_id: Optional[str] = None,
        announce_interval: Optional[float] = None,
        address: Optional[str] = None,
        capabilities: Optional[dict] = None,
        metadata: Optional[dict] = None,
        config: Optional[dict] = None,
        rng_seed: Optional[int] = None,
    ):
        if node_id is None:
            import uuid

            node_id = "node_" + uuid.uuid4().hex[:12]
        cfg: dict = {"node_id": node_id}
        if address is not None:
            cfg["address"] = address
        if capabilities is not None:
            cfg["capabilities"] = capabilities
        if metadata is not None:
            cfg["metadata"] = metadata
        if announce_interval is not None:
            cfg["announce_interval_ms"] = max(1, int(announce_interval * 1000))
        if config is not None:
            cfg["membership"] = config
        if rng_seed is not None:
            cfg["rng_seed"] = rng_seed
        self.registry = registry
        self.node_id = node_id
        token = next(_TOKENS)
        with _CALLBACKS_LOCK:
            _SENDERS[token] = [None]
        self._token = token
        ptr = c_void_p()
        reg_ptr = registry._enter()
        try:
            _check(
                _lib.peerdisc_gossip_new(
                    reg_ptr,
                    _json_arg(cfg),
                    _SEND_TRAMPOLINE,
                    c_void_p(token),
                    _SEND_FINALIZE,
                    ctypes.byref(ptr),
                )
            )
        except BaseException:
            with _CALLBACKS_LOCK:
                _SENDERS.pop(token, None)
            raise
        finally:
            registry._exit()
        super().__init__(ptr)
        self._started = False

    def _set_sender(self, fn) -> None:
        with _CALLBACKS_LOCK:
            entry = _SENDERS.get(self._token)
            if entry is not None:
                entry[0] = fn

    def start(self, send_fn: Callable[[str, dict], None], seeds: Optional[list] = None) -> None:
        """Starts gossiping through ``send_fn``: joins through ``seeds``
        (node ids) or, by default, every live peer the registry lists, and
        starts the timer thread (probes, gossip rounds, announcements)."""
        self._set_sender(send_fn)
        if seeds is None:
            seeds = [p["node_id"] for p in self.registry.list_alive() if p["node_id"] != self.node_id]
        if seeds:
            self.join(seeds)
        self._call(_lib.peerdisc_gossip_start)
        self._started = True

    def join(self, node_ids: list) -> None:
        """Joins through these nodes (their answers make them members)."""
        self._call(_lib.peerdisc_gossip_join, _json_arg(list(node_ids)))

    def handle_announcement(self, msg: Union[dict, str, bytes], sender_node_id: str) -> None:
        """Hands in a message received from ``sender_node_id`` (any
        protocol message, or the seed system's ``gossip_announcement``).
        Raises ``ERR_INVALID_JSON`` when it does not decode (counted
        against the sender's health)."""
        self._call(_lib.peerdisc_gossip_handle, _json_arg(msg), _text(sender_node_id))

    def tick(self) -> None:
        """Runs what is due now (the timer thread does it after start)."""
        self._call(_lib.peerdisc_gossip_tick)

    def members(self) -> list:
        """Every member known: ``[{"node_id", "liveness", "incarnation",
        "version", "health"}]`` sorted by node id."""
        out = c_void_p()
        self._call(_lib.peerdisc_gossip_members, ctypes.byref(out))
        return json.loads(_take_string(out))

    def stop(self) -> None:
        """Leaves gracefully (the members are told) and stops the timer
        thread. Idempotent; :meth:`close` frees the object."""
        if self.closed:
            return
        if self._started:
            self._started = False
            try:
                self._call(_lib.peerdisc_gossip_leave)
            except PeerdiscError as e:
                if e.status != Status.ERR_INVALID_STATE:
                    raise
        self._call(_lib.peerdisc_gossip_stop)

    def close(self) -> None:
        """Stops (see :meth:`stop`) and frees; no ``send_fn`` call starts
        afterwards."""
        if self._cv is not None and not self.closed:
            try:
                self.stop()
            except PeerdiscError:
                pass
        self._set_sender(None) if hasattr(self, "_token") else None
        super().close()
