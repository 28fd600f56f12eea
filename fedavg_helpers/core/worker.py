"""A virtual worker: a named machine with its own object store, byte counters and privacy bookkeeping.

A name stands for one machine. Creating a worker under a name that is taken replaces the earlier
worker (re-running a notebook cell does exactly that): the old worker is emptied and every pointer
into it says so. What the federation knows about a data owner outlives its worker object: a name that
once held private data stays a data owner, with its declared sample count and the strictest policy it
ever had, so a replacement can never launder what the old worker's objects depended on.
"""
import itertools
from dataclasses import dataclass

from .errors import PointerError, WorkerError
from .policy import PrivacyPolicy, get_policy, strictest
from .provenance import Taint

_workers: "dict[str, VirtualWorker]" = {}  # name -> the worker that answers to it now
_ids = itertools.count(1)


@dataclass
class OwnerRecord:
    """What the federation knows about a data owner, whichever worker object answers to its name."""

    samples: int | None = None  # the sample count it declared with its private data (the largest it sent)
    policy: PrivacyPolicy | None = None  # the strictest policy its worker ever had

    def merge(self, samples: int | None = None, policy: PrivacyPolicy | None = None) -> None:
        """Learn more about the owner: the larger sample count, the stricter policy (never the reverse)."""
        if samples is not None and (self.samples is None or samples > self.samples):
            self.samples = samples
        if policy is not None:
            self.policy = policy if self.policy is None else strictest([self.policy, policy])


_data_owners: "dict[str, OwnerRecord]" = {}


class _Entry:
    """One object in a worker's store, with its provenance."""

    __slots__ = ("obj", "taint", "private", "aggregate", "parent", "whole", "children", "kind", "template")

    def __init__(self, obj, taint, private=False, aggregate=False, parent=None, kind=None, template=None, whole=None):
        self.obj, self.taint, self.private, self.aggregate = obj, taint, private, aggregate
        self.parent, self.children = parent, None  # ids of entries that are parts of this one, made on demand
        self.whole = whole  # the entry this one is a part of (kept even after a temporary whole is freed)
        self.kind = kind  # provenance.PRIVATE, MODEL, OUTPUT, METRIC or None
        self.template = template  # a model as the model owner sent it (bytes): its structure and integer buffers


class VirtualWorker:
    """A simulated machine that holds objects for others; only pointers to them leave it."""

    def __init__(self, name: str, trusted: bool = False, policy: PrivacyPolicy | None = None):
        if not isinstance(name, str) or not name.isidentifier():
            raise WorkerError(f"a worker's name must be a Python identifier such as 'bob', got {name!r}")
        if not isinstance(trusted, bool):
            raise TypeError(f"trusted must be True or False, got {trusted!r}")
        if policy is not None and not isinstance(policy, PrivacyPolicy):
            raise TypeError(f"policy must be a fh.PrivacyPolicy or None, got {type(policy).__name__}")
        if trusted and name in _data_owners:
            raise WorkerError(
                f"{name!r} is a data owner (private data was sent to a worker of that name), so it cannot come "
                "back as a trusted worker, which releases aggregates of others' data. Give the trusted worker "
                "another name, such as 'secure_worker'."
            )
        self.name, self.trusted = name, trusted
        self.bytes_received = 0
        self.bytes_sent = 0
        self._policy = None
        self._store: dict[int, _Entry] = {}
        self._gone: dict[int, str] = {}  # why an object left: for clear errors from stale pointers
        self._replaced = False
        self._arrivals: list[tuple[str, str]] = []  # (source, type) of objects moved here since the last picture
        record = _data_owners.get(name)
        self._private_owners: frozenset = frozenset({name}) if record else frozenset()  # owners whose data is here
        self._sources: frozenset = frozenset()  # fingerprints of everything that arrived here
        self._op_sources: frozenset = frozenset()  # ... as of the last operation run while private data was here
        self._clock = 0  # counts operations run here
        self._last_private_op = -1  # clock of the last operation run while private data was here
        self.policy = policy
        previous = _workers.get(name)
        _workers[name] = self
        if previous is not None:
            previous._retire()

    # ---- what a model owner may look at: counts, never contents ----
    def __len__(self) -> int:
        """Objects held (parts of an object, such as a model's weight, are not counted twice)."""
        return sum(1 for e in self._store.values() if e.parent is None)

    @property
    def num_objects(self) -> int:
        return len(self)

    @property
    def policy(self) -> PrivacyPolicy | None:
        """This worker's own policy (None: the global one applies)."""
        return self._policy

    @policy.setter
    def policy(self, policy: PrivacyPolicy | None) -> None:
        if policy is not None and not isinstance(policy, PrivacyPolicy):
            raise TypeError(f"policy must be a fh.PrivacyPolicy or None, got {type(policy).__name__}")
        self._policy = policy
        record = _data_owners.get(self.name)
        if record is not None:
            record.merge(policy=policy)

    @property
    def declared_samples(self) -> int | None:
        """The number of samples this data owner declared with its private data (None: not a data owner)."""
        record = _data_owners.get(self.name)
        return None if record is None else record.samples

    def holdings(self) -> list[dict]:
        """What this worker holds: each object's type, whose private data it depends on, and if it is private."""
        return [
            {"type": type(e.obj).__name__, "owners": sorted(self._owners(e)), "private": e.private,
             "aggregate": e.aggregate}
            for e in self._store.values() if e.parent is None
        ]

    def effective_policy(self) -> PrivacyPolicy:
        """This worker's own policy, or the global one; for a data owner never looser than it ever was."""
        own = self._policy or get_policy()
        record = _data_owners.get(self.name)
        if record is not None and record.policy is not None:
            return strictest([own, record.policy])
        return own

    def __repr__(self):
        kind = "trusted worker" if self.trusted else "worker"
        state = ", replaced by a newer worker of this name" if self._replaced else ""
        return (f"<VirtualWorker {self.name} ({kind}): {len(self)} objects, "
                f"{_human(self.bytes_received)} received, {_human(self.bytes_sent)} sent{state}>")

    # ---- the store (used by pointers and aggregation functions) ----
    def _check_current(self) -> None:
        if self._replaced:
            raise WorkerError(
                f"this worker {self.name} was replaced: fh.VirtualWorker({self.name!r}) was created again (for "
                "example by re-running a cell), and the name now belongs to the new worker. Use the new one "
                f"(fh.get_worker({self.name!r}))."
            )

    def _retire(self) -> None:
        """The name now belongs to another worker: drop every object, so nothing leaks into the new one."""
        self._replaced = True
        self._store.clear()
        self._gone.clear()

    def _put(self, obj, owners=frozenset(), private=False, aggregate=False, parent=None, kind=None,
             sources=frozenset(), template=None) -> int:
        """Store obj and return its id; a part of another object shares that object's taint."""
        oid = next(_ids)
        if parent is None:
            self._store[oid] = _Entry(obj, Taint(owners, sources, self._clock), private, aggregate, None, kind,
                                      template)  # positional: this runs on every operation
        else:
            whole = self._store[parent]
            self._store[oid] = _Entry(obj, whole.taint, private, aggregate, parent, kind, None, whole)
            if whole.children is None:
                whole.children = []
            whole.children.append(oid)
        return oid

    def _arrive(self, obj, nbytes: int, source: str, owners, private, aggregate, kind, sources, template) -> int:
        """An object moved here from worker `source`, nbytes on the wire: store it with its provenance."""
        self.bytes_received += nbytes
        self._receive(sources)
        oid = self._put(obj, owners, private, aggregate, None, kind, sources, template)
        self._arrivals.append((source, type(obj).__name__))
        return oid

    def _receive(self, sources: frozenset) -> None:
        """Inputs with these fingerprints arrived here."""
        if not sources <= self._sources:
            self._sources = self._sources | sources

    def _entry(self, oid: int) -> _Entry:
        try:
            return self._store[oid]
        except KeyError:
            if self._replaced:
                why = (f"{self.name} was replaced: fh.VirtualWorker({self.name!r}) was created again (for example "
                       "by re-running a cell), and the new worker starts empty. Re-run the cells that send objects "
                       f"to {self.name}")
                raise PointerError(f"this pointer refers to an object on an earlier worker named {self.name}; "
                                   f"{why}.") from None
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

    def _sources_of(self, entry: _Entry) -> frozenset:
        """The inputs entry descends from, counting everything that was here when work was done with private data."""
        if entry.taint.since < self._last_private_op:
            return entry.taint.sources | self._op_sources
        return entry.taint.sources

    def _remove(self, oid: int, why: str) -> None:
        """Drop an object and its parts, remembering why for pointers that still refer to them."""
        entry = self._store.pop(oid, None)
        if entry is None:
            return
        self._gone[oid] = why
        for child in entry.children or ():
            self._remove(child, f"the object it is part of was {why}")

    def _forget(self, oid: int, entry: "_Entry | None") -> None:
        """The last pointer to oid is gone and its entry (if any) left the store: free the rest of it."""
        if entry is None:
            self._gone.pop(oid, None)
        elif entry.parent is not None:
            whole = self._store.get(entry.parent)
            if whole is not None and whole.children and oid in whole.children:
                whole.children.remove(oid)


def _declare_private(worker: VirtualWorker, obj) -> None:
    """worker's name is a data owner from now on; its declared sample count is the largest batch it was sent."""
    rows = len(obj) if hasattr(obj, "__len__") and not isinstance(obj, (str, bytes)) else None
    _data_owners.setdefault(worker.name, OwnerRecord()).merge(rows, worker._policy)
    worker._private_owners = worker._private_owners | {worker.name}


def owner_policy(name: str) -> PrivacyPolicy:
    """The policy that governs a data owner's data wherever it goes: its worker's, never looser than ever before."""
    worker = _workers.get(name)
    if worker is not None:
        return worker.effective_policy()
    record = _data_owners.get(name)
    base = get_policy()
    return base if record is None or record.policy is None else strictest([base, record.policy])


def declared_samples(name: str) -> int | None:
    """The sample count a data owner declared (None if it declared none)."""
    record = _data_owners.get(name)
    return None if record is None else record.samples


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
        name._check_current()
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


def _reset() -> None:
    """Forget every worker, data owner and aggregated contribution (a fresh federation, as in a new kernel)."""
    from . import ledger

    _workers.clear()
    _data_owners.clear()
    ledger._reset()
