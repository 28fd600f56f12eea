"""Provenance: whose private data an object depends on, which inputs it descends from, and what it is.

The privacy policy decides from provenance, never from variable names or values:
- owners: the data owners whose private data an object depends on;
- sources: fingerprints of the inputs it was computed from (the objects sent to its worker, the private
  data itself). Two objects computed from the same inputs, such as a copy, an alias or a second training
  run from the same global model, carry the same contribution of their data owner;
- kind: what the policy knows the object to be: a data owner's private data, a model the model owner
  sent, the output of such a model, or a metric of training (a loss). Everything else has no kind.
"""
import hashlib

import torch

PRIVATE, MODEL, OUTPUT, METRIC = "private data", "model", "model output", "metric"


class Taint:
    """The data owners and input fingerprints an object (and every part of it) depends on."""

    __slots__ = ("owners", "sources", "since")

    def __init__(self, owners=frozenset(), sources=frozenset(), since=0):
        self.owners = owners if type(owners) is frozenset else frozenset(owners)
        self.sources = sources if type(sources) is frozenset else frozenset(sources)
        self.since = since  # the worker's clock when the object arrived or was made

    def absorb(self, owners: frozenset, sources: frozenset) -> None:
        """Depend on these owners and inputs too (after an operation that may have changed the object)."""
        if not owners <= self.owners:
            self.owners = self.owners | owners
        if not sources <= self.sources:
            self.sources = self.sources | sources


def fingerprint(blob: bytes) -> str:
    """A short content fingerprint of serialized bytes: equal bytes, equal fingerprint."""
    return hashlib.sha256(blob).hexdigest()[:32]


def value_fingerprint(obj) -> str:
    """A fingerprint of an object's numbers: a module's state, a tensor, or a Python number."""
    digest = hashlib.sha256()
    if isinstance(obj, torch.nn.Module):
        items = sorted(obj.state_dict().items())
    elif isinstance(obj, torch.Tensor):
        items = [("", obj)]
    else:
        items = [("", torch.as_tensor(obj))]
    for name, tensor in items:
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}:".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:32]


def lineage_id(sources: frozenset) -> str:
    """One string for a set of input fingerprints."""
    return hashlib.sha256("|".join(sorted(sources)).encode()).hexdigest()[:32]


def reachable(objects) -> set:
    """ids of the tensors, modules and optimizers an operation on `objects` can write to.

    Autograd writes .grad into every leaf of a tensor's graph, an optimizer writes its parameters and
    its state, a module call may write its buffers: provenance must follow all of them, not only the
    arguments an operation was given.
    """
    seen, stack = set(), list(objects)
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen:
            continue
        if isinstance(obj, torch.Tensor):
            seen.add(id(obj))
            if obj.is_leaf and obj.grad is not None:
                stack.append(obj.grad)
            if obj.grad_fn is not None:
                stack.extend(_graph_leaves(obj.grad_fn))
        elif isinstance(obj, torch.nn.Module):
            seen.add(id(obj))
            stack.extend(obj.parameters())
            stack.extend(obj.buffers())
        elif isinstance(obj, torch.optim.Optimizer):
            seen.add(id(obj))
            for group in obj.param_groups:
                stack.extend(group["params"])
            for state in obj.state.values():
                stack.extend(v for v in state.values() if isinstance(v, torch.Tensor))
        elif isinstance(obj, (list, tuple)):
            seen.add(id(obj))
            stack.extend(obj)
        elif isinstance(obj, dict):
            seen.add(id(obj))
            stack.extend(obj.values())
        elif hasattr(obj, "__self__") and callable(obj):  # a bound method: it acts on its object
            seen.add(id(obj))
            stack.append(obj.__self__)
    return seen


def _graph_leaves(grad_fn) -> list:
    """The leaf tensors autograd accumulates gradients into, walking back from grad_fn."""
    leaves, seen, stack = [], set(), [grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        variable = getattr(node, "variable", None)
        if variable is not None:
            leaves.append(variable)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return leaves


def touches(obj, ids: set) -> bool:
    """Whether obj is one of `ids` or holds one of them (a module's parameter, an optimizer's)."""
    if id(obj) in ids:
        return True
    if isinstance(obj, torch.nn.Module):
        return any(id(t) in ids for t in (*obj.parameters(), *obj.buffers()))
    if isinstance(obj, torch.optim.Optimizer):
        return any(id(p) in ids for group in obj.param_groups for p in group["params"])
    return False
