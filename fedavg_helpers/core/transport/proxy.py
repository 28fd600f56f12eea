"""The model owner's handles on worker processes: RemoteWorker and RemotePointer, used exactly like
VirtualWorker and Pointer. Each operation is one request to the worker's process, which runs it on its
own store under its own privacy policy; only a handle number, or what the policy releases, comes back.
"""
import torch

from .. import serialize
from ..averaging import _load_into
from ..errors import LocationError, PointerError, WorkerError
from ..pointer import Pointer
from ..worker import _human
from .host import Ref
from .world import World


class RemoteWorker:
    """A worker in its own OS process; pass it wherever a fh.VirtualWorker goes (send, move, secure_average)."""

    def __init__(self, world: World, name: str):
        self._world, self.name, self.trusted = world, name, name in world.trusted
        self._arrivals: list = []

    @property
    def pid(self) -> int:
        """The worker's process id (it is a real OS process)."""
        return self._world.processes[self.name].pid

    @property
    def alive(self) -> bool:
        return self.name in self._world.alive()

    def stats(self) -> dict:
        """What the worker's process reports about itself: counts, byte counters, its pid and traffic."""
        return self._world.call(self.name, "stats", ())[1]

    @property
    def bytes_received(self) -> int:
        return self.stats()["bytes_received"]

    @property
    def bytes_sent(self) -> int:
        return self.stats()["bytes_sent"]

    @property
    def declared_samples(self) -> int | None:
        return self.stats()["declared_samples"]

    def __len__(self) -> int:
        return self.stats()["objects"]

    @property
    def num_objects(self) -> int:
        return len(self)

    def holdings(self) -> list[dict]:
        """What this worker holds, as VirtualWorker.holdings() reports it, computed in its process."""
        stats = self.stats()
        self._arrivals.extend(stats["arrivals"])
        return stats["holdings"]

    @property
    def policy(self):
        return self._world.policy

    def effective_policy(self):
        return self._world.policy

    def __repr__(self):
        kind = "trusted worker" if self.trusted else "worker"
        if self._world.closed or self.name in self._world.lost:
            return f"<RemoteWorker {self.name} ({kind}): its process is gone>"
        s = self.stats()
        return (f"<RemoteWorker {self.name} ({kind}, own process): {s['objects']} objects, "
                f"{_human(s['bytes_received'])} received, {_human(s['bytes_sent'])} sent>")

    # ---- what fh.send, fh.secure_average and fh.average_losses do with a worker in its own process ----
    def _send_here(self, obj, private):
        if isinstance(obj, (Pointer, RemotePointer)):
            raise TypeError("this object is already on a worker; use ptr.move(worker) or ptr.copy() instead of send()")
        if not isinstance(private, bool):
            raise TypeError(f"private must be True or False, got {private!r}")
        self._world.check_usable(self.name)
        blob = serialize.dumps(obj)  # fails with a clear TypeError before anything travels
        return _reply(self._world, self.name, self._world.call(self.name, "send", (blob, private)))

    def _average(self, kind: str, pointers, weights, what: str):
        if isinstance(pointers, RemotePointer) or not isinstance(pointers, (list, tuple)):
            raise TypeError(f"{what} needs a list of pointers, got {type(pointers).__name__}")
        if not pointers:
            raise ValueError(f"{what} got an empty list; there is nothing to average")
        numbers = []
        for p in pointers:
            if not isinstance(p, RemotePointer) or p._world is not self._world:
                raise TypeError(f"{what} on a worker process needs pointers into the same processes, got "
                                f"{type(p).__name__}")
            p._check()
            if p._worker != self.name:
                raise LocationError(f"{what}: a pointer is on {p._worker}, not on {self.name}; with workers in "
                                    f"their own processes move each input first (ptr.move({self.name})), so it "
                                    "goes worker to worker")
            numbers.append(p._number)
        weights = None if weights is None else list(weights)
        return self._world.call(self.name, "average", (kind, numbers, weights))[1]

    def _secure_average(self, models, into=None, weights=None):
        if into is not None and not isinstance(into, torch.nn.Module):
            raise TypeError(f"into= must be an nn.Module to load the average into, got {type(into).__name__}")
        averaged = self._average("models", models, weights, "secure_average()")
        if into is None:
            return averaged
        got, want = averaged.state_dict(), into.state_dict()
        if {k: v.shape for k, v in got.items()} != {k: v.shape for k, v in want.items()}:
            raise ValueError("into= has other parameters than the averaged models; only copies of the same "
                             "architecture can be averaged")
        return _load_into(into, got)

    def _average_losses(self, losses, weights=None) -> float:
        return self._average("losses", losses, weights, "average_losses()")


def _reply(world, worker, reply):
    """A pointer for a handle the worker made, or the value it sent."""
    if reply[0] == "pointer":
        return RemotePointer(world, worker, reply[1], reply[2])
    return reply[1]


class RemotePointer:
    """A handle to an object in a worker's process: a worker name and a number, nothing of the object."""

    __slots__ = ("_world", "_worker", "_number", "_type", "_gone", "_methods", "__weakref__")

    def __init__(self, world: World, worker: str, number: int, type_name: str = "object"):
        self._world, self._worker, self._number, self._type, self._gone = world, worker, number, type_name, None
        self._methods = None  # bound methods already looked up: a method never changes, so one handle serves

    def _check(self):
        if self._gone is not None:
            raise PointerError(f"this pointer can no longer be used: its object was {self._gone}. "
                               "Send the object again to get a new pointer.")
        self._world.check_usable(self._worker)

    def _op(self, kind, *args, **kwargs):
        self._check()
        _, wired = _wire((self, *args, kwargs), f"this {kind}")
        reply = self._world.call(self._worker, "pointer", (self._number, kind, wired[1:-1], wired[-1]))
        return _reply(self._world, self._worker, reply)

    @property
    def location(self) -> RemoteWorker:
        """The worker that holds the object."""
        self._op("location")
        return self._world.workers[self._worker]

    def get(self):
        """Bring the object back, if the policy in the worker's process allows it."""
        value = self._op("get")
        self._gone, self._methods = f"fetched with .get() from {self._worker}", None
        return value

    def copy(self) -> "RemotePointer":
        return self._op("copy")

    def move(self, worker) -> "RemotePointer":
        """Move the object to another worker's process, in place; it goes worker to worker, never through us."""
        self._check()
        target = _target(self._world, worker)
        self._world.check_usable(target.name)
        try:
            number = self._world.call(self._worker, "move", (self._number, target.name))[1]
        except RuntimeError as err:
            if target.name in self._world.alive() or "lost" in str(err):
                raise
            raise self._world._lose(target.name, str(err)) from None
        self._world.free(self._worker, self._number)
        self._worker, self._number, self._methods = target.name, number, None
        return self

    def __del__(self):
        try:
            if self._gone is None or self._gone.startswith("fetched"):
                self._world.free(self._worker, self._number)
        except Exception:
            pass

    def __repr__(self):
        if self._gone is not None:
            return f"<Pointer, no longer usable: its object was {self._gone}>"
        if self._world.closed or self._worker in self._world.lost:
            return f"<Pointer into {self._worker}, whose process is gone>"
        return self._op("repr")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        methods = self._methods
        if methods is not None and name in methods and self._gone is None:
            return methods[name]  # saves a round trip per call of opt.step(), opt.zero_grad(), ...
        attr = self._op("getattr", name)
        if type(attr) is RemotePointer and attr._type in _METHOD_TYPES:
            if methods is None:
                methods = self._methods = {}
            methods[name] = attr
        return attr

    def __call__(self, *args, **kwargs):
        return self._op("call", *args, **kwargs)

    def __getitem__(self, key):
        return self._op("getitem", key)

    def __setitem__(self, key, value):
        self._op("setitem", key, value)

    def _needs_value(self, *_, **__):
        raise TypeError(f"{self!r} points to an object in another process; its value is not here. Compute on the "
                        "worker through the pointer, and bring back results with .get() where the policy allows it.")

    __bool__ = __len__ = __iter__ = __index__ = __int__ = __float__ = __contains__ = _needs_value
    __hash__ = object.__hash__

    def __reduce_ex__(self, protocol):
        raise TypeError("a pointer cannot be pickled or copied; use ptr.copy() for a copy on the worker")


_METHOD_TYPES = frozenset({"method", "builtin_function_or_method", "method-wrapper"})


def _forward(name):
    def method(self, *args):
        return self._op("method", name, *args)
    method.__name__ = name
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    setattr(RemotePointer, f"__{_name}__", _forward(f"__{_name}__"))
    setattr(RemotePointer, f"__r{_name}__", _forward(f"__r{_name}__"))
for _name in ("lt", "le", "gt", "ge", "neg", "abs"):
    setattr(RemotePointer, f"__{_name}__", _forward(f"__{_name}__"))


def _target(world: World, worker) -> RemoteWorker:
    if isinstance(worker, str) and worker in world.workers:
        return world.workers[worker]
    if isinstance(worker, RemoteWorker) and worker._world is world:
        return worker
    known = ", ".join(world.names)
    raise WorkerError(f"{worker!r} is not one of this world's worker processes ({known}); objects move only "
                      "between workers started by the same fh.spawn_workers(...)")


def _wire(values, what):
    """values with each RemotePointer replaced by a Ref; the (world, worker) they all live on (None if none)."""
    found = []  # holds no pointer: walk is a closure in a reference cycle, so a pointer here would be freed late

    def walk(value):
        if type(value) is RemotePointer:
            value._check()
            if found and found[0][1] != value._worker:
                raise LocationError(f"{what} mixes objects on {found[0][1]} and on {value._worker}; an "
                                    "operation runs on one worker. Move one of them first, e.g. "
                                    f"ptr.move({found[0][1]}) (to a trusted worker if private).")
            found[:1] = [(value._world, value._worker)]
            return Ref(value._worker, value._number)
        if isinstance(value, Pointer):
            raise LocationError(f"{what} mixes a worker process's object with an in-process worker's "
                                f"({value!r}); use one kind of worker")
        if type(value) in (list, tuple):
            return type(value)(walk(v) for v in value)
        if type(value) is dict:
            return {k: walk(v) for k, v in value.items()}
        return value

    wired = walk(values)
    return (found[0] if found else None), wired


def remote_call(fn, args, kwargs):
    """fh.remote(fn, ...) when its pointers live in a worker process."""
    module = getattr(fn, "__module__", None)
    if module == "__main__" or "<locals>" in getattr(fn, "__qualname__", ""):
        raise TypeError(f"cannot run {fn!r} in a worker process: it is defined in the notebook or inside a "
                        "function, and the worker's process cannot import it. Define it at module level in a .py "
                        "file and import it from there.")
    found, (wired_args, wired_kwargs) = _wire((args, kwargs), "remote()")
    if found is None:
        raise ValueError("remote() got no pointer arguments, so there is no worker to run it on. "
                         "Pass at least one pointer (from fh.send) or call the function locally.")
    world, worker = found
    return _reply(world, worker, world.call(worker, "remote", (fn, wired_args, wired_kwargs)))

