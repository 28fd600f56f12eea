"""Aggregation on a trusted worker: the only results that leave it are averages over several data owners."""
from fractions import Fraction

import torch

from .._checks import check_weights as _check_weights
from . import ledger, serialize
from ._interrupts import deferred_interrupt
from .errors import PrivacyError, WorkerError
from .pointer import Pointer, _transfer, _withheld, canonical_metric, canonical_model, policy_for
from .policy import _names
from .provenance import METRIC, MODEL, lineage_id, value_fingerprint
from .worker import VirtualWorker, declared_samples, get_worker


def _trusted(secure_worker) -> VirtualWorker:
    worker = secure_worker if hasattr(secure_worker, "_secure_average") else get_worker(secure_worker)
    if not worker.trusted:
        raise WorkerError(
            f"{worker.name} is not trusted, and aggregating there would show it every input. "
            "Aggregate on a worker made with fh.VirtualWorker(name, trusted=True)."
        )
    return worker


def _entries(pointers, what: str):
    """The store entries behind a non-empty list of pointers (raising before anything changes)."""
    if isinstance(pointers, Pointer) or not isinstance(pointers, (list, tuple)):
        raise TypeError(f"{what} needs a list of pointers, got {type(pointers).__name__}")
    if not pointers:
        raise ValueError(f"{what} got an empty list; there is nothing to average")
    for p in pointers:
        if not isinstance(p, Pointer):
            raise TypeError(f"{what} needs pointers (from fh.send), got a {type(p).__name__}")
    return [p._entry() for p in pointers]


class Inputs:
    """The inputs of one aggregation with their provenance, and the policy that governs it."""

    def __init__(self, pointers, entries, workers, weights, family: str, what: str):
        self.pointers, self.entries, self.weights, self.family, self.what = pointers, entries, weights, family, what
        self.owner_sets = [p._location._owners(e) for p, e in zip(pointers, entries)]
        self.owners = frozenset().union(*self.owner_sets)
        self.policy = policy_for([*workers, *(p._location for p in pointers)], self.owners)

    def contributors(self) -> frozenset:
        return self.policy.contributors(self.owner_sets, self.weights)

    def check_strict(self) -> frozenset | None:
        """Under strict: one contribution per data owner, of the right kind, with owner-declared or equal weights.

        Returns the ledger signature of this aggregation (None under the default policy).
        """
        if not self.policy.strict:
            return None
        kind = MODEL if self.family == "model" else METRIC
        for p, entry, owners in zip(self.pointers, self.entries, self.owner_sets):
            if len(owners) != 1:
                who = "no data owner" if not owners else _names(owners)
                raise PrivacyError(
                    f"strict policy: {self.what} aggregates data owners' contributions, each trained on one owner's "
                    f"data, but {p!r} depends on {who}'s. Send the model to each data owner and train it there.")
            if entry.kind != kind or entry.parent is not None:
                needed = ("a model you sent with fh.send(model, worker) and trained there, whole (not a part of it)"
                          if kind == MODEL else "a training metric: a loss computed from a model's output "
                          "(fh.remote(F.cross_entropy, ...)), a loss you called .backward() on, or what "
                          "fh.client_update returns")
                raise PrivacyError(
                    f"strict policy: {self.what} takes only {needed}; {p!r} is not one (raw data, a part of a "
                    "model or a value derived from one could single out its owner).")
        seen = {}
        for p, owners in zip(self.pointers, self.owner_sets):
            (owner,) = owners
            if owner in seen:
                raise PrivacyError(
                    f"strict policy: {self.what} takes at most one contribution per data owner, but {owner} "
                    "appears twice (copies of one model, or two models trained on the same data, would weigh "
                    f"{owner} more than the others). Give one input per data owner.")
            seen[owner] = p
        if len(set(self.weights)) > 1:
            declared = [declared_samples(next(iter(o))) for o in self.owner_sets]
            ratios = {Fraction(w) / d for w, d in zip(self.weights, declared) if d}
            if None in declared or 0 in declared or len(ratios) != 1:
                raise PrivacyError(
                    "strict policy: the weights of an average come from the data owners, not from the model owner "
                    "(chosen weights make two averages into two equations). Leave weights=None for equal weights, "
                    "or give each owner's declared sample count: "
                    + ", ".join(f"{next(iter(o))}: {d}" for o, d in zip(self.owner_sets, declared)) + ".")
        contributions = []
        for p, entry, owners in zip(self.pointers, self.entries, self.owner_sets):
            source = p._location
            contributions.append(ledger.Contribution(
                next(iter(owners)), self.family, lineage_id(source._sources_of(entry)), value_fingerprint(entry.obj)))
        return ledger.check(contributions, self.weights)


def _aggregate(inputs: Inputs, worker: VirtualWorker, combine):
    """Run combine(objects) on the trusted worker; fetch the result under the policy.

    Inputs that are not on the worker yet travel there as copies (their pointers stay valid); the result is
    marked as an aggregate, the one kind of object the strict policy lets leave. Everything is checked before
    any bytes travel: the inputs may move there, the aggregate would combine enough data owners, and under the
    strict policy each owner gives one contribution that was not already aggregated differently (ledger.py).
    """
    signature = inputs.check_strict()
    for p, entry, owners in zip(inputs.pointers, inputs.entries, inputs.owner_sets):
        if p._location is not worker:
            inputs.policy.check_move(entry.obj, owners, p._location, worker, entry.kind)
    owners = inputs.contributors()
    # refuse before anything travels: the inputs are of the result's kind (models, or scalar losses)
    inputs.policy.check_get(worker, inputs.entries[0].obj, owners, aggregate=True)
    objects, traffic = [], []
    for p, entry in zip(inputs.pointers, inputs.entries):
        source = p._location
        if source is worker:
            objects.append(entry.obj)
            continue
        payload = entry.obj
        if inputs.policy.strict and source._private_owners:
            payload = canonical_model(entry) if entry.kind == MODEL else canonical_metric(entry)
        blob = serialize.dumps(payload)
        traffic.append((source, len(blob)))
        objects.append(serialize.loads(blob))
    try:
        with torch.no_grad():
            result = combine(objects)
    except Exception as err:
        if inputs.policy.strict and owners:
            raise _withheld(err, worker) from None
        raise
    released, nbytes = _transfer(result)  # the aggregate as the model owner receives it
    with deferred_interrupt():  # all or nothing: the counters, the ledger and the release
        for source, size in traffic:
            source.bytes_sent += size
            worker.bytes_received += size
        worker.bytes_sent += nbytes
        if signature is not None:
            ledger.record(signature)
    return released


def _weighted_mean(tensors, weights):
    """sum_i w_i t_i / sum_i w_i, summed in order so equal weights give exactly (t_1 + ... + t_n) / n."""
    total = tensors[0] * weights[0]
    for t, w in zip(tensors[1:], weights[1:]):
        total = total + t * w
    return total / sum(weights)


def _check_models(models, entries, into, what: str) -> None:
    """All inputs are models of one architecture (and so is `into`, if given)."""
    states = []
    for p, entry in zip(models, entries):
        if not isinstance(entry.obj, torch.nn.Module):
            raise TypeError(f"{what} averages models (nn.Module), but {p!r} points to something else")
        states.append({k: v.shape for k, v in entry.obj.state_dict().items()})
    if into is not None and not isinstance(into, torch.nn.Module):
        raise TypeError(f"into= must be an nn.Module to load the average into, got {type(into).__name__}")
    reference = {k: v.shape for k, v in into.state_dict().items()} if into is not None else states[0]
    for i, shapes in enumerate(states):
        if shapes.keys() != reference.keys():
            raise ValueError(f"model {i} has parameters {sorted(shapes)} but expected {sorted(reference)}; "
                             "only copies of the same architecture can be averaged")
        for k, shape in shapes.items():
            if shape != reference[k]:
                raise ValueError(f"model {i}'s {k} has shape {tuple(shape)} but expected {tuple(reference[k])}; "
                                 "only copies of the same architecture can be averaged")


def _load_into(into, state) -> torch.nn.Module:
    """Copy an averaged state into the parameters and buffers of `into`, in place and whole (Ctrl-C waits)."""
    with torch.no_grad(), deferred_interrupt():
        for k, v in state.items():
            into.state_dict()[k].copy_(v)
    return into


def _shell(entries, strict: bool) -> torch.nn.Module:
    """A fresh module to hold an average: under strict the model as the model owner sent it, so its
    structure and integer buffers (step counters) come from the model owner, never from one data owner."""
    if strict:
        return serialize.loads(entries[0].template)
    return serialize.loads(serialize.dumps(entries[0].obj))


def secure_average(models, secure_worker, into: torch.nn.Module | None = None, weights=None):
    """Average models (pointers) on a trusted worker; only the average comes back, loaded into `into` if given.

    weights (e.g. each client's sample count) make it the weighted FedAvg average sum w_k m_k / sum w_k.
    Under the strict policy the weights must be equal (None) or the data owners' declared sample counts.
    """
    if hasattr(secure_worker, "_secure_average"):  # a worker in its own process: it averages there
        return secure_worker._secure_average(models, into, weights)
    worker = _trusted(secure_worker)
    entries = _entries(models, "secure_average()")
    weights = _check_weights(weights, len(entries))
    _check_models(models, entries, into, "secure_average()")
    inputs = Inputs(models, entries, [worker], weights, "model", "secure_average()")
    shell = _shell(entries, inputs.policy.strict and all(e.template is not None for e in entries))

    def average(objs):
        sds = [m.state_dict() for m in objs]
        new = shell.state_dict()
        for k, v in new.items():
            if v.is_floating_point():
                v.copy_(_weighted_mean([sd[k] for sd in sds], weights))
        return shell

    averaged = _aggregate(inputs, worker, average)
    return averaged if into is None else _load_into(into, averaged.state_dict())


def average_losses(losses, secure_worker, weights=None) -> float:
    """Average scalar losses from several workers on a trusted worker; only the average comes back."""
    if hasattr(secure_worker, "_average_losses"):
        return secure_worker._average_losses(losses, weights)
    worker = _trusted(secure_worker)
    entries = _entries(losses, "average_losses()")
    weights = _check_weights(weights, len(entries))
    for p, entry in zip(losses, entries):
        value = entry.obj
        if not (isinstance(value, (int, float)) or (isinstance(value, torch.Tensor) and value.numel() == 1)):
            raise TypeError(f"average_losses() averages scalars, but {p!r} points to something else")
    inputs = Inputs(losses, entries, [worker], weights, "metric", "average_losses()")
    mean = _aggregate(inputs, worker,
                      lambda objs: _weighted_mean([torch.as_tensor(o, dtype=torch.float64).detach().reshape(())
                                                   for o in objs], weights))
    return float(mean)
