"""Pointers: handles to objects on a worker; everything done through one runs where the object lives."""
import operator
import pickle

import torch
import torch.nn.functional as F

from . import serialize
from ._interrupts import deferred_interrupt
from .errors import LocationError, PointerError, PrivacyError, WorkerError
from .policy import strictest
from .provenance import METRIC, MODEL, OUTPUT, PRIVATE, fingerprint, reachable, touches
from .worker import VirtualWorker, _declare_private, get_worker, owner_policy

_PLAIN = (int, float, bool, str, bytes, type(None), slice, type(Ellipsis), torch.dtype, torch.device)
_PLAIN_TYPES = frozenset(_PLAIN)
_NOTHING: frozenset = frozenset()
_METHOD_TYPES = (type(torch.zeros(0).add), type(torch.nn.Module().train), type([].append), type((0).__add__))
# loss functions: a scalar they compute from a model's output is a training metric
_LOSS_FUNCTIONS = frozenset({F.cross_entropy, F.nll_loss, F.mse_loss, F.l1_loss, F.smooth_l1_loss, F.huber_loss,
                             F.binary_cross_entropy, F.binary_cross_entropy_with_logits, F.kl_div})
_TRAINING_FUNCTIONS: set = set()  # they train a model in place and return its mean loss (training_function)
_Module, _Tensor, _Loss = torch.nn.Module, torch.Tensor, torch.nn.modules.loss._Loss
_KEEPS_METRIC = frozenset({"item", "detach", "clone", "float", "double", "cpu"})  # a metric stays a metric


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
        owners = loc._owners(entry)
        policy_for([loc], owners).check_get(loc, entry.obj, owners, entry.aggregate)
        obj, nbytes = _transfer(entry.obj)
        with deferred_interrupt():
            self._left(nbytes, "fetched with .get()")
            self._gone, self._methods = f"fetched with .get() from {loc.name}", None
        return obj

    def move(self, worker) -> "Pointer":
        """Move the object to another worker, in place: this pointer follows it, nobody else sees it."""
        target = _worker_arg(worker, "move()")
        entry, blob, owners, sources, _ = self._departure(target)
        obj = serialize.loads(blob)
        with deferred_interrupt():
            new_id = target._arrive(obj, len(blob), self._location.name, owners, entry.private, entry.aggregate,
                                    entry.kind, sources, entry.template)
            self._left(len(blob), f"moved to {target.name}")
            self._location, self._id, self._methods = target, new_id, None
        return self

    def _departure(self, target):
        """Check that the object may move to target; return its entry, the bytes that travel, and its provenance.

        Returns (entry, blob, owners, sources, policy). Nothing changes here: the caller delivers the blob
        (in this process, or to another worker's process) and then calls _left.
        """
        entry, source = self._entry(), self._location
        if target is source:
            raise WorkerError(f"this object is already on {source.name}; move() needs a different worker")
        owners, sources = source._owners(entry), source._sources_of(entry)
        policy = policy_for([source, target], owners)
        policy.check_move(entry.obj, owners, source, target, entry.kind)
        return entry, serialize.dumps(_leaving(entry, source, policy, owners)), owners, sources, policy

    def _left(self, nbytes: int, why: str) -> None:
        """The object left its worker, nbytes on the wire: drop it (and its parts) there, remembering why."""
        loc = self._location
        loc.bytes_sent += nbytes
        loc._remove(self._id, why)
        loc._gone.pop(self._id, None)  # this pointer keeps its own reason (or follows the object)

    def copy(self) -> "Pointer":
        """A new, independent copy of the object on the same worker."""
        entry, loc = self._entry(), self._location
        owners = loc._owners(entry)
        if loc.trusted:
            policy_for([loc], owners).check_run(loc)
        clone = serialize.loads(serialize.dumps(entry.obj))
        return Pointer(loc, loc._put(clone, owners, entry.private, kind=entry.kind, sources=loc._sources_of(entry),
                                     template=entry.template))

    def __del__(self):
        try:
            if self._gone is None:  # free the object; worker._forget handles a part and a missing entry
                loc = self._location
                entry = loc._store.pop(self._id, None)
                if entry is None or entry.parent is not None:
                    loc._forget(self._id, entry)
        except Exception:  # at interpreter shutdown the worker may already be gone
            pass

    def __repr__(self):
        if self._gone is not None:
            return f"<Pointer, no longer usable: its object was {self._gone}>"
        loc = self._location
        entry = loc._store.get(self._id)
        if entry is None:
            if loc._replaced:
                return f"<Pointer into an earlier worker named {loc.name}, since replaced>"
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


class _NoPointer(ValueError):
    """An operation found no in-process pointer among its arguments."""


_process_call = None  # transport/: runs fh.remote(...) for pointers into worker processes


def _apply(fn, *args, **kwargs):
    return fn(*args, **kwargs)


# tensor methods without a trailing _ that still change state: a call of any other tensor method is pure
_MUTATORS = {"backward", "register_hook", "retain_grad", "share_memory_"}


def policy_for(workers, owners):
    """The policy for an operation on `workers` with data of `owners`: the strictest of all of theirs."""
    policies = [w.effective_policy() for w in workers]
    names = {w.name for w in workers}
    policies += [owner_policy(o) for o in owners if o not in names]
    return strictest(policies)


def _worker_arg(worker, what: str) -> VirtualWorker:
    """A worker given by object or name, that still answers to its name."""
    target = get_worker(worker) if isinstance(worker, (str, VirtualWorker)) else worker
    if not isinstance(target, VirtualWorker):
        raise TypeError(f"{what} needs a fh.VirtualWorker or a worker's name, got {type(worker).__name__}")
    return target


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


def _leaving(entry, source, policy, owners):
    """What travels when entry leaves source: under strict, a data owner's model or metric in a fixed form.

    A model goes as the model owner sent it (its template) with the trained numbers loaded in, so no
    attribute added on the data owner's worker travels and its size is fixed before training; a metric
    goes as one float64 number.
    """
    if not (policy.strict and owners and not source.trusted):
        return entry.obj
    return canonical_model(entry) if entry.kind == MODEL else canonical_metric(entry)


def canonical_metric(entry) -> torch.Tensor:
    """A metric as one float64 number: the same size whatever computed it."""
    return torch.as_tensor(entry.obj).detach().to(torch.float64).reshape(())


def canonical_model(entry):
    """The model the model owner sent (entry.template), carrying entry's trained parameters and buffers."""
    clean = serialize.loads(entry.template)
    state, expected = entry.obj.state_dict(), clean.state_dict()
    if state.keys() != expected.keys() or any(state[k].shape != v.shape or state[k].dtype != v.dtype
                                             for k, v in expected.items()):
        raise PrivacyError("strict policy: this model no longer has the parameters it was sent with (names, shapes "
                           "or dtypes changed on the data owner's worker); a model leaves a data owner only in the "
                           "form the model owner sent. Train the model you sent without reshaping it.")
    with torch.no_grad():
        for k, v in expected.items():
            v.copy_(state[k])
    return clean


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


def _withheld(err: Exception, loc: VirtualWorker) -> Exception:
    """err with its message withheld: under strict, an error about private data must not quote it."""
    message = (f"an operation on {loc.name} failed with {type(err).__name__}; under the strict policy its message "
               "is withheld, because it could quote private data. Check the types and shapes of what you passed "
               "(try the same code on data of your own first).")
    try:
        return type(err)(message)
    except Exception:
        return RuntimeError(message)


def _run(fn, args, kwargs, part_of=None, what=None, pure=False):
    """Run fn(*args, **kwargs) on the pointers' worker; return a pointer to the result (or None).

    Provenance: the result depends on every argument's data owners and inputs, and on the owners whose
    private data is on this worker. Unless the operation is known to be pure (operators, attribute
    access, tensor methods without a trailing _), it may have changed its arguments in place, and through
    them whatever they reach (autograd's .grad, an optimizer's parameters and state), so all of that is
    marked as depending on it too. On a data owner's worker every object there is marked (worker._owners),
    which also covers objects changed through aliases. pure=None means "a call": pure if it is a tensor
    method that changes nothing.
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
            entry = here._store.get(value._id)
            if entry is None:  # fetched, moved, consumed, freed or its worker replaced: say which
                entry = value._entry()
            entries.append(entry)
            real_args.append(entry.obj)
        elif type(value) in _PLAIN_TYPES:
            real_args.append(value)
        else:
            simple = False
            break
    if simple:
        real_kwargs = kwargs
        if kwargs:
            real_kwargs = dict(zip(kwargs, real_args[len(args):]))
            del real_args[len(args):]
    else:
        loc = _location_of(args, kwargs, what or getattr(fn, "__name__", "this operation"))
    if loc is None:
        raise _NoPointer(f"{what} got no pointer arguments, so there is no worker to run it on. "
                         "Pass at least one pointer (from fh.send) or call the function locally.")
    if loc.trusted:
        policy_for([loc], frozenset().union(*(loc._owners(e) for e in entries))).check_run(loc)
    if not simple:
        entries = []
        real_args = [_resolve(a, loc, entries) for a in args]
        real_kwargs = {k: _resolve(v, loc, entries) for k, v in kwargs.items()}
    if pure is None:
        callee = real_args[0]  # a tensor method changes nothing unless torch's name says so (a trailing _)
        pure = type(callee) in _METHOD_TYPES and isinstance(callee.__self__, _Tensor) and \
            not callee.__name__.endswith("_") and callee.__name__ not in _MUTATORS
    try:
        if fn is _apply:  # a pointer call: call the callee directly (one Python frame less on every step)
            result = real_args[0](*real_args[1:], **real_kwargs)
        else:
            result = fn(*real_args, **real_kwargs)
    except Exception as err:
        involved = loc._private_owners.union(*(e.taint.owners for e in entries))
        if involved and policy_for([loc], involved).strict:
            raise _withheld(err, loc) from None
        raise
    finally:  # even a failed operation may have changed its arguments
        # count the operation on the worker's clock; if private data is here, the operation may have met it,
        # and so may everything here (see worker._owners)
        loc._clock += 1
        owners = loc._private_owners
        if owners:
            loc._last_private_op, loc._op_sources = loc._clock, loc._sources
            sources = loc._sources
        else:
            sources = _NOTHING
        for entry in entries:
            taint = entry.taint
            if taint.owners is not owners and taint.owners and not taint.owners <= owners:
                owners = owners | taint.owners
            if taint.sources is not sources and taint.sources and not taint.sources <= sources:
                sources = sources | taint.sources
        if not pure and (owners or sources):  # changed in place: they now depend on all of it
            for entry in entries:  # owners and sources include each argument's own, so they replace them
                taint = entry.taint
                taint.owners, taint.sources = owners, sources
            if owners and not loc._private_owners:
                _mark_reachable(loc, (*real_args, *real_kwargs.values()))
    kind = _kind(fn, real_args, entries, result, pure)
    if result is None:
        return None
    if part_of is not None and type(result) not in _PLAIN_TYPES:  # a part of the object, not a copy
        return Pointer(loc, loc._put(result, _NOTHING, False, False, part_of._id, kind))
    same = _aliased(result, real_args, entries, loc)
    if same is not None:  # the operation returned an object it was given (module.train() returns the module)
        return Pointer(loc, loc._put(result, owners, same.private, kind=same.kind, sources=sources,
                                     template=same.template))
    return Pointer(loc, loc._put(result, owners, False, False, None, kind, sources))  # positional: every step


def _aliased(result, real_args, entries, loc):
    """The entry whose object the result is, if the operation returned one of its inputs (or a method's owner)."""
    if type(result) in _PLAIN_TYPES:
        return None
    for obj, entry in zip(real_args, entries):
        if obj is result:
            return entry
        if type(obj) in _METHOD_TYPES and obj.__self__ is result and entry.whole is not None:
            return entry.whole
    return None


def _mark_reachable(loc, objects) -> None:
    """Whatever the operation could write through its arguments depends on all of it, jointly."""
    ids = reachable(objects)
    touched = [e for e in loc._store.values() if touches(e.obj, ids)]
    owners = frozenset().union(*(e.taint.owners for e in touched))
    sources = frozenset().union(*(e.taint.sources for e in touched))
    for entry in touched:
        entry.taint.absorb(owners, sources)


def _kind(fn, real_args, entries, result, pure):
    """What the policy knows the result to be: a model's output, a training metric, or nothing in particular.

    A model's output stays one through arithmetic and tensor methods (a loss written by hand, such as the
    seed's ((pred - target) ** 2).sum(), is one); calling .backward() on a 0-dim one makes it the training
    loss, a metric, and so does a loss function applied to one. The cheapest tests come first: this runs
    on every operation.
    """
    if fn is _apply:
        return _call_kind(real_args[0], entries, result, pure)
    if pure:  # operators, indexing and attribute access
        if fn is getattr:
            return METRIC if entries[0].kind == METRIC and real_args[1] == "data" else None
        if isinstance(result, _Tensor):
            for entry in entries:
                if entry.kind == OUTPUT:
                    return OUTPUT  # arithmetic on a model's output
        return None
    if fn in _LOSS_FUNCTIONS:
        return METRIC if _is_scalar(result) and _any_kind(entries, OUTPUT) else None
    if fn in _TRAINING_FUNCTIONS:
        return METRIC if _is_scalar(result) and _any_kind(entries, MODEL) else None
    return None


def _call_kind(callee, entries, result, pure):
    """_kind of callee(...) called through its pointer (entries[0] is the callee's entry)."""
    if type(callee) in _METHOD_TYPES:  # a bound method: of a tensor, or of an optimizer, module, list ...
        tensor_entry = entries[0].whole
        if tensor_entry is None or not isinstance(callee.__self__, _Tensor):
            return None
        if callee.__name__ == "backward":
            if tensor_entry.kind == OUTPUT and tensor_entry.obj.dim() == 0:
                tensor_entry.kind = METRIC
            return None
        if tensor_entry.kind == METRIC and callee.__name__ in _KEEPS_METRIC and _is_scalar(result):
            return METRIC
        if tensor_entry.kind == OUTPUT and pure and isinstance(result, _Tensor):
            return OUTPUT
        return None
    if isinstance(callee, _Module):
        if entries[0].kind == MODEL and isinstance(result, _Tensor):
            return OUTPUT
        if isinstance(callee, _Loss) and _is_scalar(result) and any(e.kind == OUTPUT for e in entries[1:]):
            return METRIC
    return None


def _any_kind(entries, kind) -> bool:
    """Whether any of entries is of this kind (a plain loop: no generator object on every operation)."""
    for entry in entries:
        if entry.kind == kind:
            return True
    return False


def _is_scalar(value) -> bool:
    return isinstance(value, float) or (isinstance(value, torch.Tensor) and value.dim() == 0)


def training_function(fn):
    """Declare fn(model, ...) -> loss a training function: what it returns on a worker is a training metric."""
    _TRAINING_FUNCTIONS.add(fn)
    return fn


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
    if hasattr(worker, "_send_here"):  # a worker in its own process (transport/)
        return worker._send_here(obj, private)
    if isinstance(obj, Pointer):
        raise TypeError("this object is already on a worker; use ptr.move(worker) or ptr.copy() instead of send()")
    target = _worker_arg(worker, "send()")
    if not isinstance(private, bool):
        raise TypeError(f"private must be True or False, got {private!r}")
    if private and target.trusted:
        raise ValueError(
            f"{target.name} is a trusted worker: it aggregates others' data and owns none, so private=True "
            "does not apply. Send private data to its data owner's worker."
        )
    blob = serialize.dumps(obj)  # fails with a clear TypeError before anything changes
    copy, source = serialize.loads(blob), frozenset({fingerprint(blob)})
    owners, kind, template = (), None, None
    if private:
        owners, kind = (target.name,), PRIVATE
    elif isinstance(obj, torch.nn.Module):
        kind, template = MODEL, blob
    with deferred_interrupt():
        target.bytes_received += len(blob)
        if private:
            _declare_private(target, obj)
        target._receive(source)
        return Pointer(target, target._put(copy, owners, private=private, kind=kind, sources=source,
                                           template=template))


def remote(fn, *args, **kwargs) -> Pointer:
    """Run fn(*args, **kwargs) on the worker where its pointer arguments live, e.g. remote(optim.SGD, ptr, lr=0.1)."""
    if not callable(fn):
        raise TypeError(f"remote() needs a function or class to run, got {type(fn).__name__}")
    if isinstance(fn, Pointer):
        return fn(*args, **kwargs)
    _check_sendable(fn)
    try:
        return _run(fn, args, kwargs, what="remote()")
    except _NoPointer:
        if _process_call is None:
            raise
        return _process_call(fn, args, kwargs)  # pointers into worker processes, or a clear error from there
