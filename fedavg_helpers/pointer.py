"""Pointers: handles to objects on a worker; everything done through one runs where the object lives."""
import operator
import pickle

import torch

from . import serialize
from .errors import LocationError, PointerError, WorkerError
from .worker import VirtualWorker, get_worker

_PLAIN = (int, float, bool, str, bytes, type(None), slice, type(Ellipsis), torch.dtype, torch.device)
_PLAIN_TYPES = frozenset(_PLAIN)
_METHOD_TYPES = (type(torch.zeros(0).add), type(torch.nn.Module().train), type([].append), type((0).__add__))


class Pointer:
    """A handle to an object on a worker. Calls, attributes, indexing and arithmetic run there."""

    __slots__ = ("_location", "_id", "_gone", "_methods", "__weakref__")

    def __init__(self, location: VirtualWorker, oid: int):
        self._location, self._id, self._gone, self._methods = location, oid, None, None

    # ---- where it is, and the three ways to move an object ----
    def _entry(self):
        if self._gone is not None:
            raise PointerError(f"this pointer can no longer be used: its object was {self._gone}. "
                               "Send the object again to get a new pointer.")
        return self._location._entry(self._id)

    @property
    def location(self) -> VirtualWorker:
        """The worker that holds the object."""
        self._entry()
        return self._location

    def get(self):
        """Bring the object back (removing it from the worker), if the privacy policy allows it."""
        entry, loc = self._entry(), self._location
        loc.effective_policy().check_get(loc, entry.obj, loc._owners(entry), entry.aggregate)
        obj, nbytes = _transfer(entry.obj)
        loc.bytes_sent += nbytes
        loc._remove(self._id, "fetched with .get()")
        loc._gone.pop(self._id, None)
        self._gone, self._methods = f"fetched with .get() from {loc.name}", None
        return obj

    def move(self, worker) -> "Pointer":
        """Move the object to another worker, in place: this pointer follows it, nobody else sees it."""
        target = get_worker(worker) if isinstance(worker, str) else worker
        if not isinstance(target, VirtualWorker):
            raise TypeError(f"move() needs a fh.VirtualWorker or a worker's name, got {type(worker).__name__}")
        entry, source = self._entry(), self._location
        if target is source:
            raise WorkerError(f"this object is already on {source.name}; move() needs a different worker")
        owners = source._owners(entry)
        source.effective_policy().check_move(entry.obj, owners, source, target)
        target.effective_policy().check_move(entry.obj, owners, source, target)
        blob = serialize.dumps(entry.obj)
        source.bytes_sent += len(blob)
        target.bytes_received += len(blob)
        new_id = target._put(serialize.loads(blob), owners, entry.private, entry.aggregate)
        source._remove(self._id, f"moved to {target.name}")
        source._gone.pop(self._id, None)
        self._location, self._id, self._methods = target, new_id, None
        return self

    def copy(self) -> "Pointer":
        """A new, independent copy of the object on the same worker."""
        entry, loc = self._entry(), self._location
        if loc.trusted:
            loc.effective_policy().check_run(loc)
        clone = serialize.loads(serialize.dumps(entry.obj))
        return Pointer(loc, loc._put(clone, loc._owners(entry), entry.private))

    def __del__(self):
        try:
            if self._gone is None:
                self._location._forget(self._id)
        except Exception:  # at interpreter shutdown the worker may already be gone
            pass

    def __repr__(self):
        if self._gone is not None:
            return f"<Pointer, no longer usable: its object was {self._gone}>"
        loc = self._location
        entry = loc._store.get(self._id)
        if entry is None:
            return f"<Pointer to an object no longer on {loc.name}: {loc._gone.get(self._id, 'deleted')}>"
        return f"<Pointer to {type(entry.obj).__name__} on {loc.name}>"

    # ---- forwarding: everything below runs on the location ----
    def __getattr__(self, name):
        if name.startswith("_"):  # keep Python's and IPython's probes (_repr_html_, __array__, ...) local
            raise AttributeError(name)
        methods = self._methods
        if methods is not None and name in methods and self._gone is None:
            return methods[name]  # a bound method never changes, so one pointer to it serves every call
        attr = _run(getattr, (self, name), {}, part_of=self, pure=True)
        if attr is not None and type(attr._location._store[attr._id].obj) in _METHOD_TYPES:
            if methods is None:
                methods = self._methods = {}
            methods[name] = attr
        return attr

    def __call__(self, *args, **kwargs):
        return _run(_apply, (self, *args), kwargs, what="this call", pure=None)

    def __getitem__(self, key):
        return _run(operator.getitem, (self, key), {}, part_of=self, pure=True)

    def __setitem__(self, key, value):
        _run(operator.setitem, (self, key, value), {})

    def __neg__(self):
        return _run(operator.neg, (self,), {}, pure=True)

    def __abs__(self):
        return _run(operator.abs, (self,), {}, pure=True)

    def _needs_value(self, *_, **__):
        raise TypeError(
            f"{self!r} points to an object on another worker; its value is not here. Compute on the worker "
            "through the pointer, and bring back results with .get() where the privacy policy allows it."
        )

    __bool__ = __len__ = __iter__ = __index__ = __int__ = __float__ = __contains__ = _needs_value
    __hash__ = object.__hash__

    def __reduce_ex__(self, protocol):
        raise TypeError("a pointer cannot be pickled or copied with the copy module (two handles would free one "
                        "object twice); use ptr.copy() for a copy on the worker, or ptr.get() to fetch it")


def _binary(op):
    """Forward a binary operator, and its reflected form, to the location."""
    def forward(self, other):
        return _run(op, (self, other), {}, pure=True)

    def reflected(self, other):
        return _run(op, (other, self), {}, pure=True)
    return forward, reflected


for _name, _op in [("add", operator.add), ("sub", operator.sub), ("mul", operator.mul),
                   ("truediv", operator.truediv), ("floordiv", operator.floordiv), ("mod", operator.mod),
                   ("pow", operator.pow), ("matmul", operator.matmul)]:
    _f, _r = _binary(_op)
    setattr(Pointer, f"__{_name}__", _f)
    setattr(Pointer, f"__r{_name}__", _r)
for _name, _op in [("lt", operator.lt), ("le", operator.le), ("gt", operator.gt), ("ge", operator.ge)]:
    setattr(Pointer, f"__{_name}__", _binary(_op)[0])


def _apply(fn, *args, **kwargs):
    return fn(*args, **kwargs)


_MUTATORS = {"backward", "register_hook", "retain_grad", "share_memory_"}


def _is_pure(fn) -> bool:
    """A tensor method that changes nothing in place (torch names in-place methods with a trailing _)."""
    if type(fn) not in _METHOD_TYPES:  # checked first: a module's getattr fallback is slow
        return False
    name = fn.__name__
    return isinstance(fn.__self__, torch.Tensor) and not name.endswith("_") and name not in _MUTATORS


def _transfer(obj):
    """A worker's copy of obj as the receiver gets it, and the bytes that travelled."""
    if isinstance(obj, _PLAIN):
        return obj, len(repr(obj))
    if type(obj) is torch.Tensor and not obj.requires_grad:  # plain data: a copy of its elements, no pickler
        return obj.clone(), obj.numel() * obj.element_size()
    if type(obj) is torch.Tensor and obj.dim() == 0:  # a metric
        copy = obj.detach().clone()
        return copy.requires_grad_(obj.is_leaf and obj.requires_grad), obj.element_size()
    blob = serialize.dumps(obj)
    return serialize.loads(blob), len(blob)


def _location_of(args, kwargs, what):
    """The one worker all pointer arguments live on (LocationError if several, None if none)."""
    found = None
    for value in (*args, *kwargs.values()):
        if type(value) in (list, tuple, dict):
            inner = _location_of(value.values() if type(value) is dict else value, {}, what)
            value = None if inner is None else _Located(inner)
        if isinstance(value, (Pointer, _Located)):
            loc = value._location
            if found is None:
                found = loc
            elif loc is not found:
                raise LocationError(
                    f"{what} mixes objects on {found.name} and on {loc.name}; an operation runs on one worker. "
                    f"Move one of them first, e.g. ptr.move({found.name}) (to a trusted worker if private)."
                )
    return found


class _Located:
    """Where a container's pointers live, while checking locations."""

    __slots__ = ("_location",)

    def __init__(self, location):
        self._location = location


def _resolve(value, loc, entries):
    """The worker-side value of an argument: a pointer's object, or a copy of the caller's object."""
    if type(value) is Pointer:
        entry = value._entry()
        entries.append(entry)
        return entry.obj
    if isinstance(value, _PLAIN):
        return value
    if type(value) in (list, tuple):
        return type(value)(_resolve(v, loc, entries) for v in value)
    if type(value) is dict:
        return {k: _resolve(v, loc, entries) for k, v in value.items()}
    if callable(value) and not isinstance(value, (torch.Tensor, torch.nn.Module)):
        _check_sendable(value)
        return value
    obj, nbytes = _transfer(value)  # the caller's own object travels to the worker as a copy
    loc.bytes_received += nbytes
    return obj


def _run(fn, args, kwargs, part_of=None, what=None, pure=False):
    """Run fn(*args, **kwargs) on the pointers' worker; return a pointer to the result (or None).

    Provenance: the result depends on every argument's data owners, and on the owners whose private
    data is on this worker. Unless the operation is known to be pure (operators, attribute access,
    tensor methods without a trailing _), it may have changed its arguments in place, so they are
    marked as depending on all of it too. On a data owner's worker every object there is marked
    (worker._owners), which also covers objects changed through aliases, such as an optimizer's.
    pure=None means "a call": pure if it is a tensor method that changes nothing.
    """
    loc, entries = None, []
    real_args = []
    simple = True  # the common case: only pointers and plain values at the top level (checked inline)
    for value in (*args, *kwargs.values()) if kwargs else args:
        if type(value) is Pointer:
            here = value._location
            if loc is None:
                loc = here
            elif here is not loc:
                simple = False
                break
            entry = value._entry() if value._gone is not None else here._store.get(value._id)
            if entry is None:
                entry = here._entry(value._id)
            entries.append(entry)
            real_args.append(entry.obj)
        elif type(value) in _PLAIN_TYPES:
            real_args.append(value)
        else:
            simple = False
            break
    if simple:
        real_kwargs = dict(zip(kwargs, real_args[len(args):])) if kwargs else kwargs
        del real_args[len(args):]
    else:
        loc = _location_of(args, kwargs, what or getattr(fn, "__name__", "this operation"))
    if loc is None:
        raise ValueError(f"{what} got no pointer arguments, so there is no worker to run it on. "
                         "Pass at least one pointer (from fh.send) or call the function locally.")
    if loc.trusted:
        loc.effective_policy().check_run(loc)
    if not simple:
        entries = []
        real_args = [_resolve(a, loc, entries) for a in args]
        real_kwargs = {k: _resolve(v, loc, entries) for k, v in kwargs.items()}
    if pure is None:
        pure = _is_pure(real_args[0])
    try:
        result = fn(*real_args, **real_kwargs)
    finally:  # even a failed operation may have changed its arguments
        owners = loc._tick()  # everything here may have met the private data here (see worker._owners)
        for entry in entries:
            theirs = entry.taint.owners
            if theirs and not theirs <= owners:
                owners = owners | theirs
        if owners and not pure:  # changed in place: they now depend on all of it
            for entry in entries:
                taint = entry.taint
                if taint.owners is not owners and not owners <= taint.owners:
                    taint.owners = taint.owners | owners
    if result is None:
        return None
    if part_of is not None and type(result) not in _PLAIN_TYPES:  # a part of the object, not a copy
        return Pointer(loc, loc._put(result, parent=part_of._id))
    return Pointer(loc, loc._put(result, owners))


_sendable: set = set()


def _check_sendable(fn) -> None:
    """A function travels by name, as pickle sends it; lambdas and closures cannot."""
    key = (getattr(fn, "__module__", None), getattr(fn, "__qualname__", None))  # what pickle sends for it
    if key in _sendable:
        return
    try:
        pickle.dumps(fn)
    except Exception as e:
        raise TypeError(
            f"cannot run {fn!r} on a worker: it cannot be serialized ({e}). "
            "Define the function at module level (not as a lambda or closure) so it can travel by name."
        ) from None
    if None not in key:
        _sendable.add(key)


def send(obj, worker, private: bool = False) -> Pointer:
    """Send a copy of obj to worker and return a pointer to it; private=True marks it as the worker's own data."""
    if isinstance(obj, Pointer):
        raise TypeError("this object is already on a worker; use ptr.move(worker) or ptr.copy() instead of send()")
    target = get_worker(worker) if isinstance(worker, str) else worker
    if not isinstance(target, VirtualWorker):
        raise TypeError(f"send() needs a fh.VirtualWorker or a worker's name, got {type(worker).__name__}")
    if private and target.trusted:
        raise ValueError(
            f"{target.name} is a trusted worker: it aggregates others' data and owns none, so private=True "
            "does not apply. Send private data to its data owner's worker."
        )
    blob = serialize.dumps(obj)  # fails with a clear TypeError before anything changes
    target.bytes_received += len(blob)
    owners = ()
    if private:
        owners = (target.name,)
        target._private_owners = target._private_owners | {target.name}
    return Pointer(target, target._put(serialize.loads(blob), owners, private=private))


def remote(fn, *args, **kwargs) -> Pointer:
    """Run fn(*args, **kwargs) on the worker where its pointer arguments live, e.g. remote(optim.SGD, ptr, lr=0.1)."""
    if not callable(fn):
        raise TypeError(f"remote() needs a function or class to run, got {type(fn).__name__}")
    if isinstance(fn, Pointer):
        return fn(*args, **kwargs)
    _check_sendable(fn)
    return _run(fn, args, kwargs, what="remote()")
