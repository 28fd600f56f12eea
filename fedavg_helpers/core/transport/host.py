"""A worker's own process: it hosts one real VirtualWorker and answers the model owner's requests over RPC.

Every request runs the in-process machinery (pointer.py, policy.py, averaging.py) here, on the worker's
own store, so the privacy policy decides where the data lives. The model owner only ever holds handle
numbers; through the package's requests, objects leave this process only when the policy lets them (a
.get(), an average) or, worker to worker, when .move() takes them to another worker's process.

This is not a sandbox. Code run here on request reaches the store: a function passed to fh.remote, and
anything any peer of the RPC world runs here directly (torch RPC runs any importable function it is asked
to, and unpickles what it is sent), whatever the policy. tests/test_processes.py keeps that limitation
documented; a deployment would put a fixed, reviewed protocol in front of the data instead.

Started as `python -m fedavg_helpers.core.transport '<json settings>'` (spawn_workers does that).
"""
import faulthandler
import itertools
import os
import pickle
import signal
import sys
import threading
import time
import warnings

import torch
import torch.distributed.rpc as rpc

from .. import serialize
from .._interrupts import deferred_interrupt
from ..averaging import average_losses, secure_average
from ..errors import PointerError, WorkerError
from ..pointer import Pointer, remote, send
from ..policy import PrivacyPolicy, set_policy
from ..worker import OwnerRecord, VirtualWorker, _data_owners, get_worker

_state = {"me": None, "stop": threading.Event()}
_handles: dict[int, Pointer] = {}  # handle number -> the pointer the model owner's handle stands for
_numbers = itertools.count(1)
traffic = {"sent": {}, "received": {}}  # bytes of payload this process sent to / received from each peer


class Ref:
    """A handle in a request: the pointer with this number on this worker."""

    __slots__ = ("worker", "number")

    def __init__(self, worker: str, number: int):
        self.worker, self.number = worker, number


def count(direction: str, peer: str, nbytes: int) -> None:
    """Add nbytes to this process's traffic with peer."""
    table = traffic[direction]
    table[peer] = table.get(peer, 0) + nbytes


def _keep(value):
    """A reply: a new handle for a pointer, the value itself for anything else."""
    if type(value) is Pointer:
        number = next(_numbers)
        _handles[number] = value
        return ("pointer", number, _type_name(value))
    return ("value", value)


def _type_name(pointer: Pointer) -> str:
    entry = pointer._location._store.get(pointer._id)
    return "object" if entry is None else type(entry.obj).__name__


def _pointer(number: int) -> Pointer:
    try:
        return _handles[number]
    except KeyError:
        raise PointerError(f"this pointer no longer refers to anything on {_state['me'].name} "
                           "(it was freed); send the object again") from None


def _resolve(value):
    """Handles in a request become this worker's pointers; containers are walked."""
    if type(value) is Ref:
        if value.worker != _state["me"].name:
            raise WorkerError(f"a pointer into {value.worker} reached {_state['me'].name}")
        return _pointer(value.number)
    if type(value) in (list, tuple):
        return type(value)(_resolve(v) for v in value)
    if type(value) is dict:
        return {k: _resolve(v) for k, v in value.items()}
    return value


# ---- what the model owner may ask ----
def _op_pointer(number, kind, args, kwargs):
    """An operation through one pointer: attribute, call, indexing, operators, copy, get, repr, location."""
    p = _pointer(number)
    if kind == "getattr":
        return getattr(p, args[0])
    if kind == "call":
        return p(*args, **kwargs)
    if kind == "getitem":
        return p[args[0]]
    if kind == "setitem":
        p[args[0]] = args[1]
        return None
    if kind == "method":  # an operator or dunder forwarded as a method of the local pointer
        return getattr(p, args[0])(*args[1:])
    if kind == "copy":
        return p.copy()
    if kind == "get":
        return p.get()
    if kind == "repr":
        return repr(p)
    if kind == "location":
        return p.location.name
    raise ValueError(f"unknown pointer operation {kind!r}")


def _op_send(blob, private):
    return send(serialize.loads(blob), _state["me"], private=private)


def _op_remote(fn, args, kwargs):
    return remote(fn, *args, **kwargs)


def _op_average(kind, numbers, weights):
    pointers = [_pointer(n) for n in numbers]
    if kind == "models":
        return secure_average(pointers, _state["me"], weights=weights)
    return average_losses(pointers, _state["me"], weights=weights)


def _op_stats():
    me = _state["me"]
    arrivals = list(me._arrivals)
    me._arrivals.clear()
    return {"bytes_received": me.bytes_received, "bytes_sent": me.bytes_sent, "objects": len(me),
            "holdings": me.holdings(), "arrivals": arrivals, "pid": os.getpid(), "traffic": traffic,
            "declared_samples": me.declared_samples}


def _op_stop():
    _state["stop"].set()
    return None


def _op_move(number, target_name):
    """Move a pointer's object to another worker's process, directly: the model owner never sees it."""
    p = _pointer(number)
    target = get_worker(target_name)  # a stand-in: its name and trust, never any data
    entry, blob, owners, sources, policy = p._departure(target)
    records = {o: (r.samples, r.policy) for o, r in _data_owners.items() if o in owners}
    meta = {"owners": owners, "private": entry.private, "aggregate": entry.aggregate, "kind": entry.kind,
            "sources": sources, "records": records, "source": _state["me"].name,
            "template": entry.template if policy.strict else None}  # strict needs it; otherwise spare the bytes
    number = call(target_name, ("adopt", (blob, meta)), timeout=None)
    with deferred_interrupt():
        p._left(len(blob), f"moved to {target_name}")
        p._gone, p._methods = f"moved to {target_name}", None
    return ("moved", number)


def _op_adopt(blob, meta):
    """Another worker moved an object here: store it with its provenance, as Pointer.move does in one process."""
    me = _state["me"]
    for owner, (samples, policy) in meta["records"].items():
        _data_owners.setdefault(owner, OwnerRecord()).merge(samples, policy)
    obj = serialize.loads(blob)
    with deferred_interrupt():
        oid = me._arrive(obj, len(blob), meta["source"], meta["owners"], meta["private"], meta["aggregate"],
                         meta["kind"], meta["sources"], meta["template"])
    number = next(_numbers)
    _handles[number] = Pointer(me, oid)
    return ("moved", number)


def _op_ping():
    return os.getpid()


_OPS = {"pointer": _op_pointer, "send": _op_send, "remote": _op_remote, "average": _op_average,
        "stats": _op_stats, "stop": _op_stop, "move": _op_move, "adopt": _op_adopt, "ping": _op_ping}


def wrap(blob: bytes):
    """A large payload as a uint8 tensor, which TensorPipe moves far faster than a pickled bytes object."""
    return torch.frombuffer(bytearray(blob), dtype=torch.uint8) if len(blob) > _LARGE else blob


def unwrap(payload) -> bytes:
    return payload.numpy().tobytes() if isinstance(payload, torch.Tensor) else payload


_LARGE = 1 << 16


def serve(payload, caller: str):
    """The one function other processes call here: unpickle a request, run it, pickle the reply or the error."""
    blob = unwrap(payload)
    count("received", caller, len(blob))
    try:
        freed, op, args = pickle.loads(blob)
        for number in freed:
            _handles.pop(number, None)
        reply = _OPS[op](*_resolve(args))
        if not (type(reply) is tuple and reply and reply[0] == "moved"):
            reply = _keep(reply)
        out = pickle.dumps(("ok", reply))
    except BaseException as err:  # every failure goes back to the caller as a clean exception
        out = _error_reply(err)
    count("sent", caller, len(out))
    return wrap(out)


def _error_reply(err: BaseException) -> bytes:
    if isinstance(err, AttributeError) and "Can't get attribute" in str(err):
        err = TypeError(f"{_state['me'].name} cannot rebuild what it was sent ({err}). Classes and functions a "
                        "worker runs must be importable there: define them in a .py module, not in the notebook.")
    try:
        return pickle.dumps(("error", type(err), str(err)))
    except Exception:
        return pickle.dumps(("error", RuntimeError, f"{type(err).__name__}: {err}"))


def call(peer: str, request, timeout=None, freed=()):
    """Send a request to peer's serve() and return its reply (raise its error); used worker to worker."""
    blob = pickle.dumps((list(freed), request[0], request[1]))
    count("sent", peer, len(blob))
    kwargs = {} if timeout is None else {"timeout": timeout}
    out = unwrap(rpc.rpc_sync(peer, serve, args=(wrap(blob), _state["me"].name), **kwargs))
    count("received", peer, len(out))
    status, *rest = pickle.loads(out)
    if status == "error":
        raise rebuild_error(*rest)
    reply = rest[0]
    return reply[1] if reply[0] == "moved" else reply


def rebuild_error(cls, message: str) -> BaseException:
    try:
        return cls(message)
    except Exception:
        return RuntimeError(f"{cls.__name__}: {message}")


# ---- the process ----
def _watch_parent(parent: int) -> None:
    """Leave at once if the model owner's process is gone: no worker outlives it."""
    while True:
        if os.getppid() != parent:
            os._exit(3)
        time.sleep(0.5)


def _die_with_parent() -> None:
    try:  # Linux: the kernel sends SIGKILL when the parent dies
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def main(settings: dict) -> None:
    _die_with_parent()
    threading.Thread(target=_watch_parent, args=(settings["parent"],), daemon=True).start()
    torch.set_num_threads(1)
    policy = PrivacyPolicy(**settings["policy"])
    set_policy(policy)
    for name in settings["names"]:  # stand-ins for the others: names and trust, for the policy's checks
        if name != settings["name"]:
            VirtualWorker(name, trusted=name in settings["trusted"])
    _state["me"] = VirtualWorker(settings["name"], trusted=settings["name"] in settings["trusted"])
    options = rpc.TensorPipeRpcBackendOptions(init_method=settings["init_method"],
                                              rpc_timeout=settings["start_timeout"], num_worker_threads=8,
                                              _transports=settings["transports"], _channels=settings["channels"])
    rpc._init_counter = settings["init_counter"]  # the model owner's counts, so that our keys match its keys
    rpc.api._all_gather_sequence_id.update(settings["gathers"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rpc.init_rpc(settings["name"], rank=settings["rank"], world_size=settings["world_size"],
                     rpc_backend_options=options)
    try:
        rpc._set_rpc_timeout(settings["timeout"])
        _state["stop"].wait()
        time.sleep(0.2)  # let the reply to "stop" reach the model owner
    finally:
        faulthandler.dump_traceback_later(10, exit=True)  # a stuck shutdown never outlives 10 s
        rpc.shutdown(graceful=False)
    sys.stdout.flush()
    os._exit(0)

