"""A virtual worker: a named machine with its own object store, byte counters and privacy bookkeeping."""
import itertools
import weakref

from .errors import PointerError, WorkerError
from .policy import PrivacyPolicy, get_policy

_workers: "weakref.WeakValueDictionary[str, VirtualWorker]" = weakref.WeakValueDictionary()
_ids = itertools.count(1)


class _Taint:
    """The data owners an object (and every part of it) depends on; shared by an object and its parts."""

    __slots__ = ("owners", "since")

    def __init__(self, owners, since):
        self.owners = owners if type(owners) is frozenset else frozenset(owners)
        self.since = since  # the worker's clock when the object arrived or was made


class _Entry:
    """One object in a worker's store, with its provenance."""

    __slots__ = ("obj", "taint", "private", "aggregate", "parent", "children")

    def __init__(self, obj, taint, private=False, aggregate=False, parent=None):
        self.obj, self.taint, self.private, self.aggregate = obj, taint, private, aggregate
        self.parent, self.children = parent, None  # ids of entries that are parts of this one, made on demand


class VirtualWorker:
    """A simulated machine that holds objects for others; only pointers to them leave it."""

    def __init__(self, name: str, trusted: bool = False, policy: PrivacyPolicy | None = None, replace: bool = False):
        if not isinstance(name, str) or not name.isidentifier():
            raise WorkerError(f"a worker's name must be a Python identifier such as 'bob', got {name!r}")
        if policy is not None and not isinstance(policy, PrivacyPolicy):
            raise TypeError(f"policy must be a fh.PrivacyPolicy or None, got {type(policy).__name__}")
        if name in _workers and not replace:
            raise WorkerError(
                f"a worker named {name!r} already exists; names identify workers, so each must be unique. "
                f"Use the existing one (fh.get_worker({name!r})), choose another name, or pass replace=True "
                "(when re-running a notebook cell)."
            )
        self.name, self.trusted, self.policy = name, bool(trusted), policy
        self.bytes_received = 0
        self.bytes_sent = 0
        self._store: dict[int, _Entry] = {}
        self._gone: dict[int, str] = {}  # why an object left: for clear errors from stale pointers
        self._private_owners: frozenset = frozenset()  # owners whose private data was sent here
        self._clock = 0  # counts operations run here
        self._last_private_op = -1  # clock of the last operation run while private data was here
        _workers[name] = self

    # ---- what a model owner may look at: counts, never contents ----
    def __len__(self) -> int:
        """Objects held (parts of an object, such as a model's weight, are not counted twice)."""
        return sum(1 for e in self._store.values() if e.parent is None)

    @property
    def num_objects(self) -> int:
        return len(self)

    def holdings(self) -> list[dict]:
        """What this worker holds: each object's type, whose private data it depends on, and if it is private."""
        return [
            {"type": type(e.obj).__name__, "owners": sorted(self._owners(e)), "private": e.private,
             "aggregate": e.aggregate}
            for e in self._store.values() if e.parent is None
        ]

    def effective_policy(self) -> PrivacyPolicy:
        """This worker's own policy, or the global one."""
        return self.policy or get_policy()

    def __repr__(self):
        kind = "trusted worker" if self.trusted else "worker"
        return (f"<VirtualWorker {self.name} ({kind}): {len(self)} objects, "
                f"{_human(self.bytes_received)} received, {_human(self.bytes_sent)} sent>")

    # ---- the store (used by pointers and aggregation functions) ----
    def _put(self, obj, owners=frozenset(), private=False, aggregate=False, parent=None) -> int:
        """Store obj and return its id; a part of another object shares that object's taint."""
        oid = next(_ids)
        if parent is None:
            self._store[oid] = _Entry(obj, _Taint(owners, self._clock), private, aggregate)
        else:
            whole = self._store[parent]
            self._store[oid] = _Entry(obj, whole.taint, private, aggregate, parent)
            if whole.children is None:
                whole.children = []
            whole.children.append(oid)
        return oid

    def _entry(self, oid: int) -> _Entry:
        try:
            return self._store[oid]
        except KeyError:
            why = self._gone.get(oid, "deleted")
            raise PointerError(
                f"the object this pointer referred to is no longer on {self.name}: {why}. "
                "Use the pointer that .move() updated, or send the object again."
            ) from None

    def _owners(self, entry: _Entry) -> frozenset:
        """The data owners entry depends on, counting all work done here while private data was here."""
        if entry.taint.since < self._last_private_op:
            return entry.taint.owners | self._private_owners
        return entry.taint.owners

    def _tick(self) -> frozenset:
        """Count one operation run here; return the owners whose private data it may have touched."""
        self._clock += 1
        if self._private_owners:
            self._last_private_op = self._clock
        return self._private_owners

    def _remove(self, oid: int, why: str) -> None:
        """Drop an object and its parts, remembering why for pointers that still refer to them."""
        entry = self._store.pop(oid, None)
        if entry is None:
            return
        self._gone[oid] = why
        for child in entry.children or ():
            self._remove(child, f"the object it is part of was {why}")

    def _forget(self, oid: int) -> None:
        """The last pointer to oid is gone: free the object (its parts keep living for their own pointers)."""
        entry = self._store.pop(oid, None)
        if entry is None:
            self._gone.pop(oid, None)
        elif entry.parent is not None:
            whole = self._store.get(entry.parent)
            if whole is not None and whole.children and oid in whole.children:
                whole.children.remove(oid)


def _human(n: int) -> str:
    """Bytes as a short human string."""
    for unit in ("B", "kB", "MB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def get_worker(name: str) -> VirtualWorker:
    """The worker with this name, or a WorkerError listing the names that exist."""
    if isinstance(name, VirtualWorker):
        return name
    if not isinstance(name, str):
        raise TypeError(f"expected a fh.VirtualWorker or a worker's name, got {type(name).__name__}")
    try:
        return _workers[name]
    except KeyError:
        known = ", ".join(sorted(_workers)) or "none yet"
        raise WorkerError(
            f"no worker is named {name!r} (known workers: {known}). Create it with fh.VirtualWorker({name!r})."
        ) from None
