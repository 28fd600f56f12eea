"""Aggregation on a trusted worker: the only results that leave it are averages over several data owners."""
import torch

from . import serialize
from ._checks import check_weights as _check_weights
from .errors import WorkerError
from .pointer import Pointer
from .worker import VirtualWorker, get_worker


def _trusted(secure_worker) -> VirtualWorker:
    worker = get_worker(secure_worker)
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


def _aggregate(pointers, entries, worker: VirtualWorker, combine, weights):
    """Run combine(objects) on the trusted worker; fetch the result under the policy.

    Inputs that are not on the worker yet travel there as copies (their pointers stay valid);
    the result is marked as an aggregate, the one kind of object the strict policy lets leave.
    Only inputs with real weight count as contributors (PrivacyPolicy.contributors). Under the strict policy
    an aggregation consumes its inputs, so the same updates cannot be combined twice with different weights.
    """
    owner_sets = [p._location._owners(entry) for p, entry in zip(pointers, entries)]
    for p, entry, entry_owners in zip(pointers, entries, owner_sets):
        if p._location is not worker:
            p._location.effective_policy().check_move(entry.obj, entry_owners, p._location, worker)
    owners = worker.effective_policy().contributors(owner_sets, weights)
    # refuse before anything travels: the inputs are of the result's kind (models, or scalar losses)
    worker.effective_policy().check_get(worker, entries[0].obj, owners, aggregate=True)
    objects = []
    for p, entry in zip(pointers, entries):
        source = p._location
        if source is worker:
            objects.append(entry.obj)
            continue
        blob = serialize.dumps(entry.obj)
        source.bytes_sent += len(blob)
        worker.bytes_received += len(blob)
        objects.append(serialize.loads(blob))
    with torch.no_grad():
        result = combine(objects)
    released = Pointer(worker, worker._put(result, owners, aggregate=True)).get()
    if worker.effective_policy().strict:
        _consume(pointers, f"consumed by an aggregation on {worker.name} (strict policy: each input is aggregated once)")
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
    """Copy an averaged state into the parameters and buffers of `into`, in place."""
    with torch.no_grad():
        for k, v in state.items():
            into.state_dict()[k].copy_(v)
    return into


def _consume(pointers, why: str) -> None:
    """Strict policy: an aggregated input is used up, so nobody can aggregate it again with other weights."""
    for p in pointers:
        if p._gone is None:
            p._location._remove(p._id, why)
            p._location._gone.pop(p._id, None)
            p._gone, p._methods = why, None


def secure_average(models, secure_worker, into: torch.nn.Module | None = None, weights=None):
    """Average models (pointers) on a trusted worker; only the average comes back, loaded into `into` if given.

    weights (e.g. each client's sample count) make it the weighted FedAvg average sum w_k m_k / sum w_k.
    """
    worker = _trusted(secure_worker)
    entries = _entries(models, "secure_average()")
    weights = _check_weights(weights, len(entries))
    _check_models(models, entries, into, "secure_average()")

    def average(objs):
        model = serialize.loads(serialize.dumps(objs[0]))  # a fresh module of the same architecture
        sds = [m.state_dict() for m in objs]
        new = {}
        for k, v in sds[0].items():
            new[k] = _weighted_mean([sd[k] for sd in sds], weights) if v.is_floating_point() else v.clone()
        model.load_state_dict(new)
        return model

    averaged = _aggregate(models, entries, worker, average, weights)
    return averaged if into is None else _load_into(into, averaged.state_dict())


def average_losses(losses, secure_worker, weights=None) -> float:
    """Average scalar losses from several workers on a trusted worker; only the average comes back."""
    worker = _trusted(secure_worker)
    entries = _entries(losses, "average_losses()")
    weights = _check_weights(weights, len(entries))
    for p, entry in zip(losses, entries):
        value = entry.obj
        if not (isinstance(value, (int, float)) or (isinstance(value, torch.Tensor) and value.numel() == 1)):
            raise TypeError(f"average_losses() averages scalars, but {p!r} points to something else")
    mean = _aggregate(losses, entries, worker,
                      lambda objs: _weighted_mean([torch.as_tensor(o, dtype=torch.float64).detach().reshape(())
                                                   for o in objs], weights), weights)
    return float(mean)
